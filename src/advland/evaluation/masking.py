"""Gradient-masking diagnostics run after every evaluation (docs/diagnostics.md).

A robust error is only as good as the attack behind it. Masked or obfuscated gradients
(Athalye et al. 2018) make gradient attacks fail while the model stays breakable, and they
leave symptoms (Croce & Hein 2020): zero or non-finite input gradients, robust error that
does not grow with ε, PGD weaker than one FGSM step, results that depend a lot on random
restarts, and evaluations that are not reproducible. Each check here is cheap (PGD-10 on at
most 256 points) and reports a warning `{name, detail, doc}`; none changes the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

import torch
from torch import nn

from advland.attacks import fgsm
from advland.attacks.spec import AttackConfig
from advland.evaluation.robust import as_float, predict, run_attack
from advland.evaluation.sanity import ZERO_GRAD_LIMIT
from advland.evaluation.suites import at_budget, pgd_entry

DOC = "docs/diagnostics.md"
SUBSET = 256  # points used by the attack-based checks
STEPS = 10
ATTACK = pgd_entry(STEPS, 0.25)  # PGD-10, step ε/4, uniform start in the ε-ball
FRACTIONS = (0.25, 0.5, 1.0)  # robust error must not drop as ε grows
RESTARTS = 3


def _tolerance(n: int, pct: float) -> float:
    """Noise allowance in percent: `pct`, but never less than 3 points of the subset."""
    return max(pct, 300.0 / max(n, 1))


def _warning(name: str, detail: str) -> dict:
    return {"name": name, "detail": detail, "doc": f"{DOC}#{name.replace('_', '-')}"}


@dataclass(frozen=True)
class _Points:
    """The diagnosed points on the device and the model's clean mistakes on them."""

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    clean_wrong: torch.Tensor
    batch_size: int

    def error(self, attack: Callable) -> torch.Tensor:
        """Per-point error mask (clean or adversarial mistake) of `attack(xb, yb)`, batched."""
        wrong = []
        for i in range(0, self.y.shape[0], self.batch_size):
            xb, yb = self.x[i : i + self.batch_size], self.y[i : i + self.batch_size]
            x_adv = attack(xb, yb)
            with torch.no_grad():
                wrong.append(self.model(x_adv).argmax(dim=1) != yb)
        return torch.cat(wrong) | self.clean_wrong

    def pgd_error(self, attack: AttackConfig, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)  # same seed → same random starts
        return self.error(lambda xb, yb: run_attack(attack, self.model, xb, yb, gen))


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
    points = _Points(model, xs, ys, clean_wrong, batch_size)
    measured, changed = _measure(points, at_budget(ATTACK, norm=norm, eps=eps), seed)
    return warnings + _attack_warnings(measured, changed), measured


def _measure(points: _Points, attack: AttackConfig, seed: int) -> tuple[dict, int]:
    """PGD error at fractions of ε, repeated, with restarts, and FGSM's; -> (numbers, number
    of points on which two PGD runs with the same seed disagree)."""
    eps = attack.eps
    by_eps = {f: points.pgd_error(replace(attack, eps=f * eps), seed) for f in FRACTIONS}
    again = points.pgd_error(attack, seed)
    restarted = points.pgd_error(replace(attack, restarts=RESTARTS), seed)
    threat = attack.threat()
    fgsm_err = points.error(lambda xb, yb: fgsm(points.model, xb, yb, threat))
    measured = {
        "n": points.y.shape[0],
        "pgd_error_at_eps_fraction": {f"{f:g}": _pct(m) for f, m in by_eps.items()},
        "fgsm_error": _pct(fgsm_err),
        f"pgd_x{RESTARTS}_error": _pct(restarted),
        "repeat_identical": bool(torch.equal(again, by_eps[1.0])),
    }
    return measured, int((again != by_eps[1.0]).sum())


def _pct(mask: torch.Tensor) -> float:
    return 100.0 * mask.float().mean().item()  # host sync; tiny


def _attack_warnings(measured: dict, changed: int) -> list[dict]:
    """The warnings the measured numbers call for, each with its noise tolerance."""
    k, fgsm_error = measured["n"], measured["fgsm_error"]
    err = dict(zip(FRACTIONS, measured["pgd_error_at_eps_fraction"].values(), strict=True))
    warnings = []
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
    if fgsm_error > err[1.0] + tol:
        warnings.append(
            _warning(
                "pgd_weaker_than_fgsm",
                f"FGSM robust error {fgsm_error:.1f}% exceeds PGD-{STEPS}'s "
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
        warnings.append(
            _warning(
                "nondeterministic",
                f"two PGD-{STEPS} evaluations with the same seed disagree on {changed} of "
                f"{k} points",
            )
        )
    return warnings
