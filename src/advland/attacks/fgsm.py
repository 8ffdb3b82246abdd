"""Fast gradient sign method (Goodfellow et al. 2015) and its ℓ2 analogue (FGM).

One ascent step of size ε from x: x + ε·sign(∇) for ℓ∞, x + ε·∇/‖∇‖₂ for ℓ2, projected
onto the box. It is PGD with one step, α = ε and no random start, so it reuses that loop.
"""

from __future__ import annotations

import torch
from torch import nn

from advland.attacks.losses import get_loss
from advland.attacks.pgd import check_common, run_pgd
from advland.attacks.threat import Threat


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: Threat,
    *,
    loss: str = "ce",
    generator: torch.Generator | None = None,
    model_mode: str = "eval",
) -> torch.Tensor:
    """One full-budget gradient step; ``generator`` is unused (kept for a common interface)."""
    del generator  # deterministic attack
    check_common(x, y, steps=1, restarts=1)
    return run_pgd(
        model,
        x,
        y,
        threat,
        steps=1,
        step_size=threat.eps,
        random_start="none",
        restarts=1,
        loss_fn=get_loss(loss),
        generator=None,
        model_mode=model_mode,
    )
