"""Gradient-masking diagnostics run after every evaluation (docs/diagnostics.md).

A robust error is only as good as the attack behind it. Masked or obfuscated gradients
(Athalye et al. 2018) make gradient attacks fail while the model stays breakable, and they
leave symptoms (Croce & Hein 2020): zero or non-finite input gradients, robust error that
does not grow with ε, PGD weaker than one FGSM step, results that depend a lot on random
restarts, and evaluations that are not reproducible. Each check here is cheap (PGD-10 on at
most 256 points) and reports a warning `{name, detail, doc}`; none changes the result.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from advland.attacks import Threat, fgsm, pgd
from advland.evaluation.robust import as_float, predict

DOC = "docs/diagnostics.md"
SUBSET = 256  # points used by the attack-based checks
STEPS = 10  # PGD-10, step ε/4, uniform start in the ε-ball
FRACTIONS = (0.25, 0.5, 1.0)  # robust error must not drop as ε grows
RESTARTS = 3
ZERO_GRAD_LIMIT = 0.1  # share of points with a zero / non-finite input gradient


def _tolerance(n: int, pct: float) -> float:
    """Noise allowance in percent: `pct`, but never less than 3 points of the subset."""
    return max(pct, 300.0 / max(n, 1))


def _warning(name: str, detail: str) -> dict:
    return {"name": name, "detail": detail, "doc": f"{DOC}#{name.replace('_', '-')}"}


def masking_diagnostics(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str,
    zero_grad_fraction: float,
    batch_size: int = 256,
    seed: int = 0,
    device: torch.device | None = None,
) -> tuple[list[dict], dict]:
    """-> (warnings, measured numbers). `x` uint8 or float in [0,1]; first ≤256 points used."""
    device = device or next(model.parameters()).device
    model.eval()
    warnings = []
    if zero_grad_fraction >= ZERO_GRAD_LIMIT:
        warnings.append(
            _warning(
                "zero_gradients",
                f"{100 * zero_grad_fraction:.1f}% of points have a zero or non-finite input "
                "gradient",
            )
        )
    k = min(SUBSET, x.shape[0])
    if eps <= 0 or k == 0:
        return warnings, {"n": k}
    xs = as_float(x[:k], device) if x.dtype == torch.uint8 else x[:k].to(device)
    ys = y[:k].to(device)
    clean_wrong = predict(model, xs, batch_size, device).to(device) != ys

    def error(attack) -> torch.Tensor:
        """Per-point error mask (clean or adversarial mistake) of `attack(xb, yb)`, batched."""
        wrong = []
        for i in range(0, k, batch_size):
            xb, yb = xs[i : i + batch_size], ys[i : i + batch_size]
            x_adv = attack(xb, yb)
            with torch.no_grad():
                wrong.append(model(x_adv).argmax(dim=1) != yb)
        return torch.cat(wrong) | clean_wrong

    def pgd_at(e: float, restarts: int = 1):
        gen = torch.Generator().manual_seed(seed)  # same seed → same random starts
        t = Threat(norm=norm, eps=e)
        return error(
            lambda xb, yb: pgd(
                model,
                xb,
                yb,
                t,
                steps=STEPS,
                step_size=0.25 * e,
                random_start="eps",
                restarts=restarts,
                generator=gen,
            )
        )

    def pct(mask: torch.Tensor) -> float:
        return 100.0 * mask.float().mean().item()  # host sync; tiny

    by_eps = {f: pgd_at(f * eps) for f in FRACTIONS}
    again = pgd_at(eps)
    restarted = pgd_at(eps, RESTARTS)
    fgsm_err = error(lambda xb, yb: fgsm(model, xb, yb, Threat(norm=norm, eps=eps)))
    err = {f: pct(m) for f, m in by_eps.items()}
    measured = {
        "n": k,
        "pgd_error_at_eps_fraction": {f"{f:g}": v for f, v in err.items()},
        "fgsm_error": pct(fgsm_err),
        f"pgd_x{RESTARTS}_error": pct(restarted),
        "repeat_identical": bool(torch.equal(again, by_eps[1.0])),
    }
    tol = _tolerance(k, 2.0)
    drops = [(a, b) for a, b in pairwise(FRACTIONS) if err[a] > err[b] + tol]
    if drops:
        a, b = drops[0]
        warnings.append(
            _warning(
                "non_monotone_eps",
                f"PGD-{STEPS} robust error falls as ε grows on {k} points: {err[a]:.1f}% at "
                f"{a:g}ε vs {err[b]:.1f}% at {b:g}ε (tolerance {tol:.1f}%)",
            )
        )
    if measured["fgsm_error"] > err[1.0] + tol:
        warnings.append(
            _warning(
                "pgd_weaker_than_fgsm",
                f"FGSM robust error {measured['fgsm_error']:.1f}% exceeds PGD-{STEPS}'s "
                f"{err[1.0]:.1f}% on the same {k} points (tolerance {tol:.1f}%)",
            )
        )
    gap = measured[f"pgd_x{RESTARTS}_error"] - err[1.0]
    rtol = _tolerance(k, 5.0)
    if gap > rtol:
        warnings.append(
            _warning(
                "restarts_matter",
                f"PGD-{STEPS} with {RESTARTS} restarts raises robust error by {gap:.1f}% "
                f"over 1 restart on {k} points (tolerance {rtol:.1f}%)",
            )
        )
    if not measured["repeat_identical"]:
        changed = int((again != by_eps[1.0]).sum())
        warnings.append(
            _warning(
                "nondeterministic",
                f"two PGD-{STEPS} evaluations with the same seed disagree on {changed} of "
                f"{k} points",
            )
        )
    return warnings, measured
