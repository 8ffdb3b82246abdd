"""Honest robust evaluation: worst case over a suite, each attack on still-correct points.

The model is in eval mode, outputs logits, inputs are in [0,1]. Robust error counts a
point as broken once ANY attack of the suite fools it, so adding attacks can only raise
the number. The sanity checks of a result are in `advland.evaluation.sanity`.

Under torchrun every batch is split over the ranks: each rank predicts and attacks its
contiguous rows of the batch and the per-point results are gathered, so every rank ends
with the full per-point result. PGD and APGD draw the random starts of the whole batch
and keep their rows, so the gathered result is the one of a single process; the other
attacks (APGD-T, FAB-T, Square), whose draws depend on the batch, run the whole batch on
every rank (the same result, without a speed-up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from advland import distributed
from advland._compat import moved_attribute
from advland.attacks import apgd, get_attack
from advland.attacks.spec import AttackConfig
from advland.evaluation.suites import (
    APGD,
    SUITES,
    Named,
    SuiteAttack,
    at_budget,
    describe,
    describe_suite,
)

CLEAN = "clean"  # `broken_by` of a point the model gets wrong without an attack


@dataclass(frozen=True)
class EvalResult:
    n: int
    eps: float
    norm: str
    suite: str
    attack: str
    clean_error: float  # percent
    robust_error: float  # percent, worst case over the suite
    after_each: list[dict] = field(default_factory=list)  # robust error after each attack
    zero_grad_fraction: float = 0.0  # share of points with an all-zero input gradient
    # Per point: "" if still robust, "clean" if misclassified unattacked, else the attack
    # (`describe`) that broke it first.
    broken_by: list[str] = field(default_factory=list)

    def robust_mask(self) -> torch.Tensor:
        """Per point: True where the model is still correct after every attack."""
        return torch.tensor([b == "" for b in self.broken_by], dtype=torch.bool)

    def to_dict(self) -> dict:
        return asdict(self)


def as_float(x_uint8: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 images → float32 in [0,1] on `device` (the conversion happens on the device)."""
    return x_uint8.to(device, non_blocking=True).float().div_(255.0)


@torch.no_grad()
def predict(
    model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device
) -> torch.Tensor:
    """Predicted labels for uint8 or float inputs, batched; returns a CPU tensor."""
    model.eval()
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        rows = distributed.shard(xb.shape[0]) if distributed.active() else None
        xb = xb if rows is None else rows.take(xb)
        xb = as_float(xb, device) if xb.dtype == torch.uint8 else xb.to(device)
        pred = model(xb).argmax(dim=1).cpu()
        out.append(pred if rows is None else distributed.gather_cat(pred))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def run_attack(
    attack: SuiteAttack,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    gen,
    rows: distributed.Shard | None = None,
) -> torch.Tensor:
    """x_adv for (x, y) under `attack` at its own budget (`at_budget` fills in ε).

    `rows`: (x, y) are these rows of a batch (PGD and APGD only, see `shards_rows`)."""
    if isinstance(attack, Named):
        fn = get_attack(attack.name)
        return fn(model, x, y, attack.threat(), generator=gen, **dict(attack.options))
    if isinstance(attack, AttackConfig) and attack.eps == 0:
        # ε = 0 still runs the attack: any positive step is projected back onto x.
        attack = replace(attack, step_size=1e-3)
    if isinstance(attack, APGD):
        return apgd(
            model,
            x,
            y,
            attack.threat(),
            steps=attack.steps,
            loss=attack.loss,
            restarts=attack.restarts,
            generator=gen,
            rows=rows,
        )
    return attack.run(model, x, y, generator=gen, rows=rows)


def shards_rows(attack: SuiteAttack) -> bool:
    """True for attacks whose result on a row does not depend on the other rows of its
    batch once their random start is fixed (PGD, APGD): these split a batch over ranks."""
    return not isinstance(attack, Named)


def robust_evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    suite: str = "quick",
    batch_size: int = 500,
    seed: int = 0,
    device: torch.device | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Clean and worst-case robust error (percent) of `model` on (x, y), and per point the
    attack that broke it; each attack of the suite runs with its own fixed seed."""
    device = device or next(model.parameters(), torch.empty(0)).device
    model.eval()
    correct = predict(model, x, batch_size, device) == y  # CPU bool mask, still-robust points
    n = y.shape[0]
    clean_error = 100.0 * (1.0 - correct.float().mean().item()) if n else 0.0
    broken = [CLEAN if not c else "" for c in correct.tolist()]
    after = []
    for k, entry in enumerate(SUITES[suite]):
        attack = at_budget(entry, norm=norm, eps=eps)
        name = describe(attack)
        gen = torch.Generator().manual_seed(seed + k)  # fixed seed per attack
        for i in _attack_still_correct(
            attack, model, x, y, correct, gen=gen, batch_size=batch_size, device=device
        ):
            broken[i] = name
        after.append({"attack": name, "robust_error": _err(correct)})
        if progress:
            progress(1)
    return EvalResult(
        n=n,
        eps=eps,
        norm=norm,
        suite=suite,
        attack=describe_suite(suite),
        clean_error=clean_error,
        robust_error=_err(correct),
        after_each=after,
        zero_grad_fraction=zero_grad_fraction(model, x[:batch_size], y[:batch_size], device),
        broken_by=broken,
    )


def _attack_still_correct(
    attack: SuiteAttack, model: nn.Module, x, y, correct, *, gen, batch_size: int, device
) -> list[int]:
    """Attack the points `correct` still marks robust; clear the mark of each one fooled
    and return their indices. Every attack runs, at ε = 0 too."""
    idx = correct.nonzero().squeeze(1)
    fooled_all: list[int] = []
    split = distributed.active() and shards_rows(attack)
    for i in range(0, idx.numel(), batch_size):
        j = idx[i : i + batch_size]
        rows = distributed.shard(j.numel()) if split else None
        mine = j if rows is None else rows.take(j)
        xb, yb = _floats(x[mine], device), y[mine].to(device)
        x_adv = run_attack(attack, model, xb, yb, gen, rows)
        with torch.no_grad():
            fooled = (model(x_adv).argmax(dim=1) != yb).cpu()
        if rows is not None:  # every rank gets the whole batch's outcome
            fooled = distributed.gather_cat(fooled)
        correct[j[fooled]] = False
        fooled_all += j[fooled].tolist()
    return fooled_all


def _floats(x: torch.Tensor, device) -> torch.Tensor:
    return as_float(x, device) if x.dtype == torch.uint8 else x.to(device).float()


def _err(correct: torch.Tensor) -> float:
    return 100.0 * (1.0 - correct.float().mean().item()) if correct.numel() else 0.0


def zero_grad_fraction(model: nn.Module, x, y, device) -> float:
    """Share of points whose input gradient is exactly zero (a gradient-masking symptom)."""
    if x.shape[0] == 0:
        return 0.0
    model.eval()
    xb = (as_float(x, device) if x.dtype == torch.uint8 else x.to(device)).requires_grad_(True)
    loss = F.cross_entropy(model(xb), y.to(device), reduction="sum")
    (g,) = torch.autograd.grad(loss, xb)
    zero = (g.flatten(1).abs().amax(dim=1) == 0) | ~torch.isfinite(g.flatten(1)).all(dim=1)
    return zero.float().mean().item()


def __getattr__(name: str):
    return moved_attribute(__name__, {"sanity_checks": "advland.evaluation.sanity"}, name)
