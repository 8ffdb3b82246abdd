"""Sanity checks of a robust evaluation, reported with every result and never skipped.

Each check is `{name, passed, detail}` plus `level: "warning"` for the ones that only warn;
callers fail loudly on a failed error-level check and print failed warnings:

- `eps0_equals_clean`: at ε = 0 the attacks change nothing, so robust = clean error;
- `robust_ge_clean`: an attack can only add mistakes;
- `<suite>_ge_<weaker>`: a stronger suite never reports a lower robust error;
- `no_zero_gradients` (warning): all-zero input gradients hint at gradient masking.
"""

from __future__ import annotations

from torch import nn

from advland.evaluation.robust import EvalResult, robust_evaluate

SUBSET = 256  # points of the ε = 0 check
ZERO_GRAD_LIMIT = 0.1  # share of points with a zero input gradient that warns


def sanity_checks(
    model: nn.Module, x, y, result: EvalResult, *, batch_size: int, device, weaker: list[EvalResult]
) -> list[dict]:
    """The checks of `result` (made by `robust_evaluate` on x, y); `weaker` holds the results
    of the suites that must not report a higher robust error."""
    return [
        _eps0_equals_clean(model, x, y, result, batch_size=batch_size, device=device),
        {
            "name": "robust_ge_clean",
            "passed": result.robust_error >= result.clean_error,
            "detail": f"robust {result.robust_error:.2f}% vs clean {result.clean_error:.2f}%",
        },
        *(_ge_weaker(result, w) for w in weaker),
        {
            "name": "no_zero_gradients",
            "passed": result.zero_grad_fraction < ZERO_GRAD_LIMIT,
            "level": "warning",
            "detail": f"{100 * result.zero_grad_fraction:.1f}% of points have an all-zero input gradient",
        },
    ]


def _eps0_equals_clean(model, x, y, result: EvalResult, *, batch_size: int, device) -> dict:
    k = min(SUBSET, x.shape[0])
    zero = robust_evaluate(
        model,
        x[:k],
        y[:k],
        eps=0.0,
        norm=result.norm,
        suite=result.suite,
        batch_size=batch_size,
        device=device,
    )
    return {
        "name": "eps0_equals_clean",
        "passed": abs(zero.robust_error - zero.clean_error) < 1e-9,
        "detail": f"at ε=0 on {k} points: robust {zero.robust_error:.2f}% vs clean {zero.clean_error:.2f}%",
    }


def _ge_weaker(result: EvalResult, w: EvalResult) -> dict:
    return {
        "name": f"{result.suite}_ge_{w.suite}",
        "passed": result.robust_error >= w.robust_error,
        "detail": f"{result.suite} {result.robust_error:.2f}% vs {w.suite} {w.robust_error:.2f}%",
    }
