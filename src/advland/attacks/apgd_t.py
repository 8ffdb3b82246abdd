"""Targeted APGD with the targeted DLR loss (Croce & Hein 2020, §3 and AutoAttack's APGD-T).

For each of the `targets` classes with the highest clean logits after the top one (9, or
K − 1 when the dataset has fewer classes), one APGD run (`advland.attacks.apgd`, same step
size rule, checkpoints and momentum) maximises the targeted DLR loss

    DLR_t = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2),

with π the logits sorted descending. Success is any misclassification, as in AutoAttack;
each point keeps its worst iterate over all targets, and a point already fooled by an
earlier target is not attacked again. With fewer than four classes the targeted margin
z_t − z_y replaces the DLR ratio (the ratio needs π4).
"""

from __future__ import annotations

import torch
from torch import nn

from advland.attacks.apgd import _run
from advland.attacks.pgd import attack_mode, check_common, keep_worst
from advland.attacks.threat import Threat
from advland.errors import UserError

TARGETS = 9


def targeted_dlr(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-example targeted DLR loss (maximised); the targeted margin below four classes."""
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    z_t = logits.gather(1, target[:, None]).squeeze(1)
    if logits.shape[1] < 4:
        return z_t - z_y
    top = logits.topk(4, dim=1).values
    return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def target_classes(model: nn.Module, x: torch.Tensor, targets: int) -> torch.Tensor:
    """[B, n] target classes: the 2nd … (n+1)-th largest clean logits, n = min(targets, K−1)."""
    with torch.no_grad():
        logits = model(x)
    n = min(targets, logits.shape[1] - 1)
    return logits.argsort(dim=1, descending=True)[:, 1 : n + 1]


def apgd_t(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: Threat,
    *,
    steps: int = 100,
    targets: int = TARGETS,
    restarts: int = 1,
    rho: float = 0.75,
    generator: torch.Generator | None = None,
    model_mode: str = "eval",
) -> torch.Tensor:
    """APGD-T: x_adv (detached), the per-example worst case over the target classes."""
    check_common(x, y, steps, restarts)
    if targets < 1:
        raise UserError(f"targets must be >= 1, got {targets}; AutoAttack uses 9")
    x = x.detach()
    threat = threat.to(x.device)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    with attack_mode(model, model_mode):
        classes = target_classes(model, x, targets)
        best = (x, torch.full_like(y, -torch.inf, dtype=torch.float32), torch.zeros_like(y) != 0)
        for k in range(classes.shape[1]):
            idx = (~best[2]).nonzero().squeeze(1)  # points not fooled yet
            if idx.numel() == 0:
                break
            tk = classes[idx, k]

            def loss_fn(logits: torch.Tensor, yy: torch.Tensor, tk=tk) -> torch.Tensor:
                return targeted_dlr(logits, yy, tk)

            for _ in range(restarts):
                cand = _run(
                    model, x[idx], y[idx], threat, steps=steps, rho=rho, loss_fn=loss_fn,
                    generator=generator,
                )  # fmt: skip
                sub = keep_worst((best[0][idx], best[1][idx], best[2][idx]), cand)
                best = _scatter(best, idx, sub)
    return best[0].detach()


def _scatter(
    best: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    idx: torch.Tensor,
    sub: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`best` with the rows `idx` replaced by `sub` (new tensors; inputs untouched)."""
    out = tuple(t.clone() for t in best)
    for o, s in zip(out, sub, strict=True):
        o[idx] = s.to(o.dtype)
    return out  # type: ignore[return-value]
