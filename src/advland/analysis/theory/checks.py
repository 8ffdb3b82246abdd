"""The `theory` tool: check the paper's linear-model theory numerically (DESIGN §1 item 4).

`run_theory(cfg, out_dir)` runs every check on generated data (float64), writes
`theory.json` (per check: name, claim, measured numbers, passed) and the figures, and
prints a short table. Each check draws from its own generator seeded by `cfg.seed + k`,
so results do not depend on the order the checks run in. The checks themselves live in
`theory_checks_binary`, `theory_checks_multiclass` and `theory_checks_sketch`.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from advland.analysis.theory import logistic as lg
from advland.analysis.theory.checks_binary import check_logistic, check_theorem3
from advland.analysis.theory.checks_multiclass import check_multiclass
from advland.analysis.theory.checks_sketch import check_sketch
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
