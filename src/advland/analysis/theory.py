"""The `theory` tool: check the paper's linear-model theory numerically (DESIGN §1 item 4).

`run_theory(cfg, out_dir)` runs every check on generated data (float64), writes
`theory.json` (per check: name, claim, measured numbers, passed) and the figures, and
prints a short table. Each check draws from its own generator seeded by `cfg.seed + k`,
so results do not depend on the order the checks run in.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from advland.analysis import logistic as lg
from advland.analysis import multiclass as mc
from advland.analysis import sketch as sk
from advland.device import pick_device
from advland.errors import UserError
from advland.fileio import atomic_write_json

INF = math.inf


@dataclass(frozen=True)
class TheoryConfig:
    seed: int = 0
    # tiny float64 problems: per-op overhead dominates, so CPU and one intra-op thread are the
    # sensible defaults (two threads on a loaded machine made every op ~20x slower)
    device: str = "cpu"
    threads: int = 1
    # binary logistic regression (eq. 6): closed form vs brute force / autograd / PGD
    logistic_p: tuple[float, ...] = (INF, 2.0, 1.0, 3.0)
    logistic_n: int = 16
    logistic_eps: float = 0.5
    logistic_grid: int = 20_001  # points on the l_p sphere in 2-D (p not in {1, inf})
    # Theorem 3
    thm3_n: int = 200
    thm3_dim: int = 5
    thm3_eps_hat: float = 0.5
    thm3_eps_fractions: tuple[float, ...] = tuple(i / 10 for i in range(21))  # x measured eps_hat
    thm3_directions: int = 200
    # multi-class linear models (Sec. 3.1, Theorem 1, Proposition 1)
    mc_classes: int = 3
    mc_dim: int = 2
    mc_per_class: int = 20
    mc_radius: float = 1.0
    mc_noise: float = 0.15
    mc_eps_grid: tuple[float, ...] = tuple(i / 10 for i in range(15))
    mc_steps: int = 2000
    mc_lr: float = 0.5
    mc_pgd_restarts: int = 10
    collapse_norm_tol: float = 1e-2
    collapse_loss_tol: float = 1e-4
    collapse_band: float = 0.1  # grid points within +-10% of eps* are not judged
    vs_samples: int = 10_000
    # Fig. 5 sketch and Theorem 2
    sketch_x: float = 1.0
    sketch_eps: tuple[float, ...] = (0.6, 1.2)
    thm2_points: int = 32
    thm2_mean_x: float = 0.3
    thm2_eps_grid: tuple[float, ...] = (0.0, 0.15, 0.6, 1.2)
    thm2_steps: int = 2000
    thm2_gammas: tuple[float, ...] = (2.0, 3.0, 4.0, 6.0)

    def __post_init__(self) -> None:
        for name in (
            "threads",
            "logistic_n",
            "thm3_n",
            "thm3_dim",
            "mc_per_class",
            "mc_steps",
            "vs_samples",
            "thm2_points",
            "thm2_steps",
            "thm3_directions",
            "mc_pgd_restarts",
        ):
            if getattr(self, name) < 1:
                raise UserError(f"theory.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("mc_eps_grid", "thm2_eps_grid", "thm3_eps_fractions", "sketch_eps"):
            grid = getattr(self, name)
            if not grid or min(grid) < 0 or list(grid) != sorted(grid):
                raise UserError(
                    f"theory.{name} must be a non-empty increasing list of values "
                    f">= 0, got {list(grid)}"
                )
        if self.mc_classes < 3 or self.mc_dim < 2 or self.mc_dim > 12:
            raise UserError(
                f"theory needs mc_classes >= 3 and 2 <= mc_dim <= 12 (exact vertex "
                f"enumeration), got {self.mc_classes}, {self.mc_dim}"
            )
        for p in self.logistic_p:
            lg.dual_exponent(p)  # raises a UserError for p < 1
        if not self.thm2_gammas or min(self.thm2_gammas) < 2:
            raise UserError(f"theory.thm2_gammas must be >= 2, got {list(self.thm2_gammas)}")


def _check(name: str, claim: str, passed: bool, **measured) -> dict:
    return {"name": name, "claim": claim, "measured": measured, "passed": bool(passed)}


def _gen(cfg: TheoryConfig, k: int) -> torch.Generator:
    return torch.Generator().manual_seed(cfg.seed + k)


def _f(t) -> float:
    return float(t)


# ---------------------------------------------------------------- binary logistic regression
def check_logistic(cfg: TheoryConfig, dev: torch.device) -> list[dict]:
    g = _gen(cfg, 1)
    x = torch.randn(cfg.logistic_n, 2, generator=g, dtype=torch.float64).to(dev)
    y = torch.randn(cfg.logistic_n, generator=g, dtype=torch.float64).sign().to(dev)
    w = torch.randn(2, generator=g, dtype=torch.float64).to(dev)
    b, eps = 0.3, cfg.logistic_eps
    brute_err, grad_err, hess_err, pgd_gap, pgd_excess, attain = {}, {}, {}, {}, {}, {}
    for p in cfg.logistic_p:
        key = "inf" if math.isinf(p) else f"{p:g}"
        closed = lg.adversarial_loss_per_example(x, y, w, eps, p, b)
        xs = x.unsqueeze(1) + eps * lg.lp_sphere_2d(p, cfg.logistic_grid).to(dev)  # (N, G, 2)
        brute = torch.nn.functional.softplus(-y[:, None] * (xs @ w + b)).amax(1)
        brute_err[key] = _f((closed - brute).abs().max())
        x_adv = lg.worst_case_perturbation(x, y, w, eps, p)
        attain[key] = _f((torch.nn.functional.softplus(-y * (x_adv @ w + b)) - closed).abs().max())
        wb = torch.cat([w, w.new_tensor([b])])
        f = lambda v, p=p: lg.adversarial_loss(x, y, v[:2], eps, p, v[2])  # noqa: E731
        wb_req = wb.clone().requires_grad_(True)
        (auto_grad,) = torch.autograd.grad(f(wb_req), wb_req)
        grad_err[key] = _f(
            (auto_grad - lg.adversarial_loss_grad(x, y, w, eps, p, b, with_bias=True)).abs().max()
        )
        hess_err[key] = _f(
            (
                torch.autograd.functional.hessian(f, wb)
                - lg.adversarial_loss_hessian(x, y, w, eps, p, b, with_bias=True)
            )
            .abs()
            .max()
        )
        if p in (INF, 2.0):
            att = lg.pgd_input_attack(x, y, w, eps, p, b)
            pgd_gap[key] = _f((closed - att).max())
            pgd_excess[key] = _f((att - closed).max())
    return [
        _check(
            "logistic_closed_form_vs_brute_force",
            "eq. 6: max over the l_p ball of the logistic loss equals "
            "log(1+exp(-y(w^T x+b)+eps||w||_q)), attained at x - eps y grad||w||_q",
            max(brute_err.values()) < 1e-6 and max(attain.values()) < 1e-12,
            max_abs_err_vs_brute_force=brute_err,
            max_abs_err_at_closed_form_x_adv=attain,
        ),
        _check(
            "logistic_grad_hessian_vs_autograd",
            "closed-form gradient and Hessian of eq. 6 (w and b) equal autograd's",
            max(*grad_err.values(), *hess_err.values()) < 1e-10,
            grad_max_abs_err=grad_err,
            hessian_max_abs_err=hess_err,
        ),
        _check(
            "logistic_closed_form_vs_pgd",
            "PGD on the input never exceeds the closed form and reaches it",
            max(pgd_excess.values()) < 1e-12 and max(pgd_gap.values()) < 1e-9,
            closed_minus_pgd_max=pgd_gap,
            pgd_minus_closed_max=pgd_excess,
        ),
    ]


# ---------------------------------------------------------------- Theorem 3
def _nondecreasing(v: torch.Tensor, dim: int = -1, tol: float = 1e-12) -> bool:
    return bool((v.diff(dim=dim) >= -tol * (1 + v.abs().amax())).all())


def check_theorem3(cfg: TheoryConfig, dev: torch.device) -> tuple[list[dict], dict]:
    g = _gen(cfg, 2)
    x, y, w = lg.separable_binary_data(cfg.thm3_n, cfg.thm3_dim, cfg.thm3_eps_hat, INF, g)
    x, y, w = x.to(dev), y.to(dev), w.to(dev)  # ||w||_1 = 1, so eq. 7 applies at w
    eps_hat = _f((y * (x @ w)).min())  # the largest budget the data stay separable under
    eps = [eps_hat * f for f in cfg.thm3_eps_fractions]
    H = torch.stack([lg.theorem3_hessian(x, y, w, e) for e in eps])  # (E, m, m)
    H_auto = torch.stack(
        [
            torch.autograd.functional.hessian(lambda v, e=e: lg.theorem3_loss(x, y, v, e), w)
            for e in eps
        ]
    )
    evals = torch.linalg.eigvalsh(H)  # ascending
    dirs = torch.randn(cfg.thm3_directions, cfg.thm3_dim, generator=g, dtype=torch.float64).to(dev)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    quad = torch.einsum("dm,emn,dn->de", dirs, H, dirs)  # (D, E)
    inside = torch.tensor([f <= 1.0 for f in cfg.thm3_eps_fractions], device=dev)
    H6 = torch.stack([lg.adversarial_loss_hessian(x, y, w, e, INF) for e in eps])
    ok = (
        _nondecreasing(quad[:, inside])
        and _nondecreasing(evals[inside, -1])
        and _nondecreasing(evals[inside, 0])
    )
    err = _f((H - H_auto).abs().max())
    data = {
        "eps": eps,
        "eps_hat": eps_hat,
        "lambda_max": evals[:, -1].tolist(),
        "lambda_min": evals[:, 0].tolist(),
    }
    return [
        _check(
            "theorem3_hessian_monotone",
            "separable data under S_eps_hat: for eps1 <= eps2 <= eps_hat, m^T H_eps1 m <= m^T H_eps2 m "
            "for unit m, and the largest/smallest eigenvalues of H_eps (eq. 29) grow with eps",
            ok and err < 1e-10,
            eps_hat=eps_hat,
            eps=eps,
            lambda_max=data["lambda_max"],
            lambda_min=data["lambda_min"],
            closed_form_vs_autograd_max_abs_err=err,
            directions=cfg.thm3_directions,
            eq6_full_hessian_lambda_max=torch.linalg.eigvalsh(H6)[:, -1].tolist(),
            note="Theorem 3 is about eq. 7 (||w||_q fixed to 1); the eq. 6 Hessian, which also "
            "differentiates eps||w||_1, is listed for comparison and not judged",
        )
    ], data


# ---------------------------------------------------------------- multi-class linear models
def check_multiclass(cfg: TheoryConfig, dev: torch.device) -> tuple[list[dict], dict, dict]:
    g = _gen(cfg, 3)
    K, logK = cfg.mc_classes, math.log(cfg.mc_classes)
    x, y = mc.cluster_data(cfg.mc_per_class, K, cfg.mc_dim, cfg.mc_radius, cfg.mc_noise, g)
    x, y = x.to(dev), y.to(dev)
    grid = list(cfg.mc_eps_grid)
    checks = [_check_exact_vs_bounds(x, y, K, g, cfg.mc_pgd_restarts)]
    zero = mc.exact_linf_adversarial(x, y, x.new_zeros(len(grid), x.shape[1], K), grid)[0]
    checks.append(
        _check(
            "multiclass_zero_model_is_log_K",
            "g_eps(x, 0) = log K for every eps",
            _f((zero - logK).abs().max()) < 1e-12,
            max_abs_err=_f((zero - logK).abs().max()),
            eps=grid,
        )
    )
    vs_check, vs_data = _check_version_space(x, y, K, grid, cfg, g)
    checks.append(vs_check)
    res = mc.train_linear_adversarial(x, y, K, grid, steps=cfg.mc_steps, lr=cfg.mc_lr, generator=g)
    eps_star = mc.exact_collapse_threshold(x, y, K)
    collapsed = (
        (res.centered_norm <= cfg.collapse_norm_tol)
        & ((res.loss - logK).abs() <= cfg.collapse_loss_tol)
    ).tolist()
    above = [
        c for e, c in zip(grid, collapsed, strict=True) if e >= eps_star * (1 + cfg.collapse_band)
    ]
    below = [
        c for e, c in zip(grid, collapsed, strict=True) if e <= eps_star * (1 - cfg.collapse_band)
    ]
    empirical = next((e for j, e in enumerate(grid) if all(collapsed[j:])), None)
    checks.append(
        _check(
            "multiclass_collapse_theorem1",
            "Theorem 1: beyond a finite budget the optimum of the l_inf adversarial loss is the "
            "constant classifier (centered ||W|| -> 0, loss -> log K); below it training succeeds",
            bool(above) and bool(below) and all(above) and not any(below),
            eps=grid,
            centered_norm=res.centered_norm.tolist(),
            loss=res.loss.tolist(),
            log_K=logK,
            robust_accuracy=res.robust_accuracy.tolist(),
            collapsed=collapsed,
            exact_threshold_eps_star=eps_star,
            empirical_threshold=empirical,
            judged_band=[eps_star * (1 - cfg.collapse_band), eps_star * (1 + cfg.collapse_band)],
        )
    )
    bar_check, bar = _check_eps_bar(x, y, res.W, grid, g)
    checks.append(bar_check)
    collapse_data = {
        "eps": grid,
        "centered_norm": res.centered_norm.tolist(),
        "loss": res.loss.tolist(),
        "log_K": logK,
        "eps_star": eps_star,
        "empirical_threshold": empirical,
        **bar,
    }
    return checks, collapse_data, vs_data


def _check_exact_vs_bounds(x, y, K, g, restarts) -> dict:
    W = torch.randn(x.shape[1], K, generator=g, dtype=x.dtype).to(x.device)
    eps = 0.5
    exact, _ = mc.exact_linf_adversarial(x, y, W, eps)
    pgd, _ = mc.pgd_linf_adversarial(x, y, W, eps, restarts=restarts, generator=g)
    low13, _ = mc.bound13_lower(x, y, W, eps)
    upper = mc.pairwise_upper_bound(x, y, W, eps)
    Wr = W.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(mc.exact_linf_adversarial(x, y, Wr, eps)[0].mean(), Wr)
    danskin = mc.exact_linf_loss_and_grad(x, y, W, eps)[1]
    ok = bool(
        (pgd <= exact + 1e-12).all()
        and (low13 <= exact + 1e-12).all()
        and (exact <= upper + 1e-12).all()
    )
    gerr = _f((auto - danskin).abs().max())
    return _check(
        "multiclass_exact_linf_loss",
        "vertex enumeration is the exact inner max: PGD (restarts) and eq. 13 never exceed it, "
        "the pairwise bound never falls below it; Danskin's gradient equals autograd's",
        ok and gerr < 1e-10,
        pgd_reaches_exact_fraction=_f(((exact - pgd) < 1e-9).double().mean()),
        mean_exact=_f(exact.mean()),
        mean_pgd=_f(pgd.mean()),
        mean_eq13=_f(low13.mean()),
        mean_pairwise_upper=_f(upper.mean()),
        danskin_vs_autograd_max_abs_err=gerr,
    )


def _check_version_space(x, y, K, grid, cfg, g) -> tuple[dict, dict]:
    S = torch.randn(cfg.vs_samples, x.shape[1], K, generator=g, dtype=x.dtype).to(x.device)
    per_point, dataset, nested = mc.version_space_fractions(x, y, S, grid)
    data = {
        "eps": grid,
        "per_point_fraction": per_point.tolist(),
        "dataset_fraction": dataset.tolist(),
    }
    return _check(
        "version_space_shrinks_prop1",
        "Proposition 1: V_eps2 subset of V_eps1 for eps1 <= eps2 (membership closed form); the "
        "fraction of sampled W in V_eps decreases with eps",
        nested and _nondecreasing(-per_point) and _nondecreasing(-dataset),
        samples=cfg.vs_samples,
        nested=nested,
        **data,
    ), data


def _check_eps_bar(x, y, W_trained, grid, g) -> tuple[dict, dict]:
    K = W_trained.shape[-1]
    Ws = torch.cat(
        [W_trained, torch.randn(20, *W_trained.shape[1:], generator=g, dtype=x.dtype).to(x.device)]
    )
    bar = mc.eps_bar_bound(x, y, Ws).clamp_min(0)  # (B, N)
    worst = min(
        _f(
            (
                mc.exact_linf_adversarial(x[i : i + 1], y[i : i + 1], Ws, bar[:, i])[0]
                - math.log(K)
            ).min()
        )
        for i in range(len(x))
    )
    clean = bar[0]  # W trained at the smallest eps of the grid
    unit = mc.eps_bar_bound(x, y, W_trained[0] / W_trained[0].norm()).clamp_min(0)
    data = {"eps_bar_clean_median": _f(clean.median()), "eps_bar_clean_max": _f(clean.max())}
    return _check(
        "eps_bar_bound_eq13",
        "App. B.1: for eps >= eps_bar(x, W) = (log(K-1) - (w_m-w_y)^T x)/||w_m-w_y||_1 the "
        "model W is no better than the constant classifier at x (g_eps >= log K)",
        worst >= -1e-12,
        min_g_at_eps_bar_minus_log_K=worst,
        eps_grid_min=grid[0],
        eps_bar_at_clean_W={
            "min": _f(clean.min()),
            "median": _f(clean.median()),
            "max": _f(clean.max()),
        },
        eps_bar_at_clean_W_unit_norm={"median": _f(unit.median()), "max": _f(unit.max())},
        note="eps_bar depends on the scale of W (-> inf as W -> 0 for K >= 3), so it bounds the "
        "collapse of a given W, not a threshold uniform over W; compare with "
        "multiclass_collapse_theorem1.exact_threshold_eps_star",
    ), data


# ---------------------------------------------------------------- Fig. 5 sketch and Theorem 2
def check_sketch(cfg: TheoryConfig, dev: torch.device) -> tuple[list[dict], dict]:
    L_tx = sk.sketch_lipschitz_theta_x()
    eps = list(cfg.sketch_eps)
    jumps = [sk.sketch_jump(cfg.sketch_x, e) for e in eps]
    analytic = [sk.sketch_jump_analytic(e) for e in eps]
    bounds = [sk.gradient_gap_bound(e, L_tx) for e in eps]
    theta = torch.linspace(-2, 2, 401, dtype=torch.float64, device=dev)
    data = {
        "x": cfg.sketch_x,
        "theta": theta.tolist(),
        "vanilla": sk.sketch_loss(theta, cfg.sketch_x).tolist(),
        "panels": [],
    }
    for e in eps:
        lo, hi = sk.sketch_band(theta, cfg.sketch_x, e)
        data["panels"].append(
            {
                "jump": sk.sketch_jump(cfg.sketch_x, e),
                "eps": e,
                "band_low": lo.tolist(),
                "adversarial": hi.tolist(),
                "grad": sk.sketch_adv_grad(theta, cfg.sketch_x, e).tolist(),
            }
        )
    ok = (
        max(abs(a - b) for a, b in zip(jumps, analytic, strict=True)) < 1e-12
        and all(j <= b for j, b in zip(jumps, bounds, strict=True))
        and _nondecreasing(torch.tensor(jumps))
    )
    checks = [
        _check(
            "sketch_kink_fig5",
            "Fig. 5: g_eps(x, theta) = log(1+exp(theta x + eps|theta|)) has a kink at theta = 0 whose "
            "gradient jump 2 eps sigmoid(0) grows with eps, within eq. 3's 2 eps L_theta_x",
            ok,
            eps=eps,
            jump=jumps,
            jump_analytic=analytic,
            eq3_bound=bounds,
            L_theta_x=L_tx,
        )
    ]
    g = _gen(cfg, 4)
    xs = torch.randn(cfg.thm2_points, generator=g, dtype=torch.float64)
    xs = (xs - xs.mean() + cfg.thm2_mean_x).to(dev)  # mean fixed: it decides where the min is
    norms = sk.sketch_sgd_grad_norms(xs, cfg.thm2_eps_grid, cfg.thm2_steps, g)
    late = norms[:, cfg.thm2_steps // 2 :]
    late_mean = late.mean(-1).tolist()
    gammas = list(cfg.thm2_gammas)
    bound = [sk.theorem2_bound(gm) for gm in gammas]
    frac = {
        f"{e:g}": [_f((late[k] > gm * e * L_tx).double().mean()) for gm in gammas]
        for k, e in enumerate(cfg.thm2_eps_grid)
        if e > 0
    }
    # L_eps has its minimum at the kink theta = 0 iff eps >= |mean x|; the one-sided
    # derivatives there are (mean x -+ eps)/2, so |grad| near the minimum cannot vanish
    mx = cfg.thm2_mean_x
    floor = {
        k: min(abs(mx - e), mx + e) / 2
        for k, e in enumerate(cfg.thm2_eps_grid)
        if e >= 1.5 * abs(mx)
    }
    zero = [k for k, e in enumerate(cfg.thm2_eps_grid) if e == 0]
    nonvanishing = bool(floor) and all(late_mean[k] >= f / 2 for k, f in floor.items())
    vanishing = bool(zero) and all(late_mean[k] < min(floor.values(), default=0) for k in zero)
    below = all(f < b for v in frac.values() for f, b in zip(v, bound, strict=True))
    checks.append(
        _check(
            "theorem2_gradient_bound",
            "Theorem 2 (eq. 4): along SGD, P(|grad L_eps| > gamma eps L_theta_x) < "
            "4/(gamma^2-2gamma+4); on the 1-D sketch loss the gradient vanishes for eps = 0 but "
            "not where eps >= 1.5|mean x| puts the minimum on the kink (stays >= half the "
            "smaller one-sided derivative)",
            below and nonvanishing and vanishing,
            gammas=gammas,
            bound=bound,
            empirical_fraction=frac,
            eps=list(cfg.thm2_eps_grid),
            late_mean_grad_norm=late_mean,
            late_min_grad_norm=late.amin(-1).tolist(),
            kink_floor={f"{cfg.thm2_eps_grid[k]:g}": f for k, f in floor.items()},
            mean_x=mx,
            L_theta_x=L_tx,
            steps=cfg.thm2_steps,
        )
    )
    return checks, data


# ---------------------------------------------------------------- the tool
def run_theory(cfg: TheoryConfig, out_dir: str | Path, *, echo: bool = True) -> dict:
    """Run every check, write `theory.json` and the figures under `out_dir`; returns the record."""
    from advland.reporting import plot_theory  # lazy: matplotlib only when figures are made

    start = time.perf_counter()
    out = Path(out_dir)
    dev = pick_device(cfg.device)
    with torch_threads(cfg.threads):
        checks = check_logistic(cfg, dev)
        thm3, thm3_data = check_theorem3(cfg, dev)
        mcc, collapse_data, vs_data = check_multiclass(cfg, dev)
        skc, sketch_data = check_sketch(cfg, dev)
    checks += thm3 + mcc + skc
    figures = []
    figures += plot_theory.plot_sketch(sketch_data, out / "fig5_sketch")
    figures += plot_theory.plot_theorem3(thm3_data, out / "theorem3_hessian_eigenvalues")
    figures += plot_theory.plot_collapse(collapse_data, out / "multiclass_collapse")
    figures += plot_theory.plot_version_space(vs_data, out / "version_space")
    record = {
        "tool": "theory",
        "config": asdict(cfg),
        "env": {"torch": torch.__version__, "device": str(dev), "dtype": "float64"},
        "all_passed": all(c["passed"] for c in checks),
        "checks": checks,
        "figures": [p.name for p in figures],
        "elapsed_s": time.perf_counter() - start,
    }
    record = _finite(record)
    atomic_write_json(out / "theory.json", record)
    if echo:
        print(format_table(record))
    return record


@contextmanager
def torch_threads(n: int):
    """Set torch's intra-op thread count for the block and restore it afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _finite(obj):
    # strict JSON has no Infinity/NaN (p = inf appears in the config): write them as strings
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _max(d: dict) -> float:
    return max(abs(v) for v in d.values())


def _at_eps_hat(m: dict) -> float:
    inside = [v for e, v in zip(m["eps"], m["lambda_max"], strict=True) if e <= m["eps_hat"]]
    return inside[-1]


# the few numbers per check that the printed table shows
_HEADLINES = {
    "logistic_closed_form_vs_brute_force": lambda m: (
        f"max err {_max(m['max_abs_err_vs_brute_force']):.1e}"
    ),
    "logistic_grad_hessian_vs_autograd": lambda m: (
        f"max err {max(_max(m['grad_max_abs_err']), _max(m['hessian_max_abs_err'])):.1e}"
    ),
    "logistic_closed_form_vs_pgd": lambda m: f"max gap {_max(m['closed_minus_pgd_max']):.1e}",
    "theorem3_hessian_monotone": lambda m: (
        f"lambda_max {m['lambda_max'][0]:.3f} -> {_at_eps_hat(m):.3f} on [0, eps_hat="
        f"{m['eps_hat']:.3f}]"
    ),
    "multiclass_exact_linf_loss": lambda m: (
        f"exact {m['mean_exact']:.4f} >= pgd {m['mean_pgd']:.4f} >= eq.13 {m['mean_eq13']:.4f}"
    ),
    "multiclass_zero_model_is_log_K": lambda m: f"max err {m['max_abs_err']:.1e}",
    "version_space_shrinks_prop1": lambda m: (
        f"fraction {m['per_point_fraction'][0]:.3f} -> {m['per_point_fraction'][-1]:.3f}"
    ),
    "multiclass_collapse_theorem1": lambda m: (
        f"eps* {m['exact_threshold_eps_star']:.3f}, collapsed from {m['empirical_threshold']}"
    ),
    "eps_bar_bound_eq13": lambda m: (
        f"eps_bar(clean W) median {m['eps_bar_at_clean_W']['median']:.3f} "
        f"max {m['eps_bar_at_clean_W']['max']:.3f}"
    ),
    "sketch_kink_fig5": lambda m: "jump " + ", ".join(f"{j:.3f}" for j in m["jump"]),
    "theorem2_gradient_bound": lambda m: (
        "late |grad| " + ", ".join(f"{v:.3f}" for v in m["late_mean_grad_norm"])
    ),
}


def format_table(record: dict) -> str:
    """A short fixed-width table: one line per check with its key numbers."""
    lines = [f"{'check':<36} {'passed':<6} key numbers"]
    for c in record["checks"]:
        head = _HEADLINES.get(c["name"], lambda m: "")(c["measured"])
        lines.append(f"{c['name']:<36} {'yes' if c['passed'] else 'NO':<6} {head}")
    lines.append(f"all passed: {record['all_passed']}  ({record['elapsed_s']:.1f} s)")
    return "\n".join(lines)
