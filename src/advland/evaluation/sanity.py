"""Sanity checks of a robust evaluation, reported with every result and never skipped.

Each check is `{name, passed, detail}` plus `level: "warning"` for the ones that only warn;
callers fail loudly on a failed error-level check and print failed warnings. Every check
compares quantities computed independently, so each can fail:

- `eps0_equals_clean`: the whole suite runs at ε = 0 and must break exactly the points a
  separate plain forward pass gets wrong (a randomised or stateful forward fails it);
- `robust_ge_clean`: every point a separate clean forward pass gets wrong is counted as
  broken by the result, so robust error ≥ clean error (a mask bug fails it);
- `<suite>_ge_<weaker>`: a stronger suite never reports a lower robust error;
- `no_black_box_only` (warning): a score-based attack (Square) broke points every
  white-box attack before it missed — a gradient-masking symptom;
- `no_zero_gradients` (warning): all-zero input gradients hint at gradient masking.
"""

from __future__ import annotations

import torch
from torch import nn

from advland.evaluation.robust import CLEAN, EvalResult, as_float, robust_evaluate
from advland.evaluation.suites import BLACK_BOX, SUITES, Named, at_budget, describe

SUBSET = 64  # points of the ε = 0 check (the whole suite runs at full budget there)
PCT_TOL = 1e-4  # percent: float slack when comparing two error rates of the same points
ZERO_GRAD_LIMIT = 0.1  # share of points with a zero input gradient that warns
BLACK_BOX_LIMIT = 0.005  # share of points broken only by a black-box attack that warns


def sanity_checks(
    model: nn.Module,
    x,
    y,
    result: EvalResult,
    *,
    batch_size: int,
    device,
    weaker: list[EvalResult],
    eps0_points: int = SUBSET,
) -> list[dict]:
    """The checks of `result` (made by `robust_evaluate` on x, y); `weaker` holds the results
    of the suites that must not report a higher robust error."""
    return [
        eps0_equals_clean(
            model, x, y, suite=result.suite, norm=result.norm, batch_size=batch_size,
            device=device, points=eps0_points,
        ),
        *result_checks(model, x, y, result, batch_size=batch_size, device=device, weaker=weaker),
    ]  # fmt: skip


def result_checks(
    model: nn.Module, x, y, result: EvalResult, *, batch_size: int, device, weaker: list[EvalResult]
) -> list[dict]:
    """The checks that concern one result at its own ε (every check but the ε = 0 one, which
    does not depend on ε: a robustness curve runs it once)."""
    return [
        _robust_ge_clean(model, x, y, result, batch_size=batch_size, device=device),
        *(_ge_weaker(result, w) for w in weaker),
        black_box_only(result),
        {
            "name": "no_zero_gradients",
            "passed": result.zero_grad_fraction < ZERO_GRAD_LIMIT,
            "level": "warning",
            "detail": f"{100 * result.zero_grad_fraction:.1f}% of points have an all-zero input gradient",
        },
    ]


def failed(checks: list[dict], level: str = "error") -> list[str]:
    """Names of the failed checks of `level` ("error" or "warning")."""
    return [c["name"] for c in checks if not c["passed"] and c.get("level", "error") == level]


@torch.no_grad()
def clean_wrong(model: nn.Module, x, y, *, batch_size: int, device) -> torch.Tensor:
    """Per point: misclassified by a plain forward pass (independent of `robust_evaluate`)."""
    model.eval()
    out = []
    for i in range(0, y.shape[0], batch_size):
        xb = x[i : i + batch_size]
        xb = as_float(xb, device) if xb.dtype == torch.uint8 else xb.to(device)
        out.append(model(xb).argmax(dim=1).cpu() != y[i : i + batch_size])
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def eps0_equals_clean(
    model: nn.Module, x, y, *, suite: str, norm: str, batch_size: int, device, points: int = SUBSET
) -> dict:
    """The whole `suite` at ε = 0 on the first `points` points must break exactly the points
    a separate plain forward pass gets wrong."""
    k = min(points, x.shape[0])
    zero = robust_evaluate(
        model, x[:k], y[:k], eps=0.0, norm=norm, suite=suite, batch_size=batch_size,
        device=device,
    )  # fmt: skip
    broken = ~zero.robust_mask()
    wrong = clean_wrong(model, x[:k], y[:k], batch_size=batch_size, device=device)
    differ = int((broken != wrong).sum())
    return {
        "name": "eps0_equals_clean",
        "passed": differ == 0,
        "detail": f"the suite at ε=0 on {k} points: robust {zero.robust_error:.2f}% vs a "
        f"separate clean pass {100 * wrong.float().mean().item() if k else 0:.2f}%; "
        f"{differ} points differ",
    }


def _robust_ge_clean(model, x, y, result: EvalResult, *, batch_size: int, device) -> dict:
    wrong = clean_wrong(model, x, y, batch_size=batch_size, device=device)
    broken = ~result.robust_mask()
    missed = int((wrong & ~broken).sum())
    clean = 100.0 * wrong.float().mean().item() if wrong.numel() else 0.0
    return {
        "name": "robust_ge_clean",
        # the two percentages come from different float paths: equal counts may differ in
        # the last bits, so compare them to well below one point in a million
        "passed": missed == 0 and result.robust_error >= clean - PCT_TOL,
        "detail": f"robust {result.robust_error:.2f}% vs a separate clean pass {clean:.2f}%; "
        f"{missed} clean mistakes not counted as broken",
    }


def _ge_weaker(result: EvalResult, w: EvalResult) -> dict:
    return {
        "name": f"{result.suite}_ge_{w.suite}",
        "passed": result.robust_error >= w.robust_error,
        "detail": f"{result.suite} {result.robust_error:.2f}% vs {w.suite} {w.robust_error:.2f}%",
    }


def black_box_only(result: EvalResult) -> dict:
    """Warning when a black-box attack broke more than 0.5% (and at least 2) of the points
    that every white-box attack of the suite had missed."""
    names = {
        describe(at_budget(a, norm=result.norm, eps=result.eps))
        for a in SUITES[result.suite]
        if isinstance(a, Named) and a.name in BLACK_BOX
    }
    count = sum(b in names for b in result.broken_by)
    n = max(len(result.broken_by), 1)
    limit = max(2, BLACK_BOX_LIMIT * n)
    return {
        "name": "no_black_box_only",
        "passed": count < limit,
        "level": "warning",
        "detail": f"{count} of {n} points were broken only by a black-box attack "
        f"({', '.join(sorted(names)) or 'none in this suite'}); gradient masking is likely "
        "when this is more than a few",
    }


__all__ = [
    "CLEAN",
    "black_box_only",
    "clean_wrong",
    "eps0_equals_clean",
    "failed",
    "result_checks",
    "sanity_checks",
]
