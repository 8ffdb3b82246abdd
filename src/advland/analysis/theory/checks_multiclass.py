"""`theory` checks of multi-class linear models (paper Sec. 3.1, App. B.1): the exact l_inf
inner max, the zero model, Proposition 1's version space, Theorem 1's collapse, eps_bar."""

from __future__ import annotations

import math

import torch

from advland.analysis.theory import multiclass as mc
from advland.analysis.theory.common import as_float, check_generator, check_record, nondecreasing
from advland.analysis.theory.config import Theorem1Settings, TheoryConfig
from advland.analysis.theory.result import Check


# ---------------------------------------------------------------- multi-class linear models
def check_multiclass(cfg: TheoryConfig, dev: torch.device) -> tuple[list[Check], dict, dict]:
    """The five multi-class checks, the collapse figure's data and the version-space data."""
    g = check_generator(cfg, 3)
    s = cfg.multiclass
    K, logK = s.classes, math.log(s.classes)
    x, y = mc.cluster_data(s.per_class, K, s.dim, s.radius, s.noise, g)
    x, y = x.to(dev), y.to(dev)
    grid = list(s.eps_grid)
    checks = [_check_exact_vs_bounds(x, y, K, g, s.pgd_restarts)]
    zero = mc.exact_linf_adversarial(x, y, x.new_zeros(len(grid), x.shape[1], K), grid)[0]
    checks.append(
        check_record(
            "multiclass_zero_model_is_log_K",
            "g_eps(x, 0) = log K for every eps",
            as_float((zero - logK).abs().max()) < 1e-12,
            max_abs_err=as_float((zero - logK).abs().max()),
            eps=grid,
        )
    )
    vs_check, vs_data = _check_version_space(x, y, K, grid, cfg.proposition1.samples, g)
    checks.append(vs_check)
    res = mc.train_linear_adversarial(x, y, K, grid, steps=s.steps, lr=s.lr, generator=g)
    collapse_check, collapse_data = _check_collapse(x, y, res, grid, cfg.theorem1)
    checks.append(collapse_check)
    bar_check, bar = _check_eps_bar(x, y, res.W, grid, g)
    checks.append(bar_check)
    return checks, {**collapse_data, **bar}, vs_data


def _check_collapse(x, y, res, grid: list[float], tol: Theorem1Settings) -> tuple[Check, dict]:
    K = res.W.shape[-1]
    logK = math.log(K)
    eps_star = mc.exact_collapse_threshold(x, y, K)
    collapsed = (
        (res.centered_norm <= tol.norm_tol) & ((res.loss - logK).abs() <= tol.loss_tol)
    ).tolist()
    above = [c for e, c in zip(grid, collapsed, strict=True) if e >= eps_star * (1 + tol.band)]
    below = [c for e, c in zip(grid, collapsed, strict=True) if e <= eps_star * (1 - tol.band)]
    empirical = next((e for j, e in enumerate(grid) if all(collapsed[j:])), None)
    check = check_record(
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
        judged_band=[eps_star * (1 - tol.band), eps_star * (1 + tol.band)],
    )
    data = {
        "eps": grid,
        "centered_norm": res.centered_norm.tolist(),
        "loss": res.loss.tolist(),
        "log_K": logK,
        "eps_star": eps_star,
        "empirical_threshold": empirical,
    }
    return check, data


def _check_exact_vs_bounds(x, y, K, g, restarts) -> Check:
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
    gerr = as_float((auto - danskin).abs().max())
    return check_record(
        "multiclass_exact_linf_loss",
        "vertex enumeration is the exact inner max: PGD (restarts) and eq. 13 never exceed it, "
        "the pairwise bound never falls below it; Danskin's gradient equals autograd's",
        ok and gerr < 1e-10,
        pgd_reaches_exact_fraction=as_float(((exact - pgd) < 1e-9).double().mean()),
        mean_exact=as_float(exact.mean()),
        mean_pgd=as_float(pgd.mean()),
        mean_eq13=as_float(low13.mean()),
        mean_pairwise_upper=as_float(upper.mean()),
        danskin_vs_autograd_max_abs_err=gerr,
    )


def _check_version_space(x, y, K, grid, samples: int, g) -> tuple[Check, dict]:
    S = torch.randn(samples, x.shape[1], K, generator=g, dtype=x.dtype).to(x.device)
    per_point, dataset, nested = mc.version_space_fractions(x, y, S, grid)
    data = {
        "eps": grid,
        "per_point_fraction": per_point.tolist(),
        "dataset_fraction": dataset.tolist(),
    }
    return check_record(
        "version_space_shrinks_prop1",
        "Proposition 1: V_eps2 subset of V_eps1 for eps1 <= eps2 (membership closed form); the "
        "fraction of sampled W in V_eps decreases with eps",
        nested and nondecreasing(-per_point) and nondecreasing(-dataset),
        samples=samples,
        nested=nested,
        **data,
    ), data


def _check_eps_bar(x, y, W_trained, grid, g) -> tuple[Check, dict]:
    K = W_trained.shape[-1]
    Ws = torch.cat(
        [W_trained, torch.randn(20, *W_trained.shape[1:], generator=g, dtype=x.dtype).to(x.device)]
    )
    bar = mc.eps_bar_bound(x, y, Ws).clamp_min(0)  # (B, N)
    worst = min(
        as_float(
            (
                mc.exact_linf_adversarial(x[i : i + 1], y[i : i + 1], Ws, bar[:, i])[0]
                - math.log(K)
            ).min()
        )
        for i in range(len(x))
    )
    clean = bar[0]  # W trained at the smallest eps of the grid
    unit = mc.eps_bar_bound(x, y, W_trained[0] / W_trained[0].norm()).clamp_min(0)
    data = {
        "eps_bar_clean_median": as_float(clean.median()),
        "eps_bar_clean_max": as_float(clean.max()),
    }
    return check_record(
        "eps_bar_bound_eq13",
        "App. B.1: for eps >= eps_bar(x, W) = (log(K-1) - (w_m-w_y)^T x)/||w_m-w_y||_1 the "
        "model W is no better than the constant classifier at x (g_eps >= log K)",
        worst >= -1e-12,
        min_g_at_eps_bar_minus_log_K=worst,
        eps_grid_min=grid[0],
        eps_bar_at_clean_W={
            "min": as_float(clean.min()),
            "median": as_float(clean.median()),
            "max": as_float(clean.max()),
        },
        eps_bar_at_clean_W_unit_norm={
            "median": as_float(unit.median()),
            "max": as_float(unit.max()),
        },
        note="eps_bar depends on the scale of W (-> inf as W -> 0 for K >= 3), so it bounds the "
        "collapse of a given W, not a threshold uniform over W; compare with "
        "multiclass_collapse_theorem1.exact_threshold_eps_star",
    ), data
