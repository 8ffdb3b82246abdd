"""Per-example attack losses on logits.

Every loss maps ``(logits [B, K], y [B]) -> [B]`` and is maximised by the attacks. Nothing is
assumed of the logits beyond "larger means more likely": an ensemble passes
log-mean-probabilities, for which ``ce`` is exactly −log(mean probability).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from advland.errors import UserError, lookup

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def _true_and_best_other(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(z_y, max_{i≠y} z_i, top-3 sorted logits) without a Python branch on values."""
    top = logits.topk(min(3, logits.shape[1]), dim=1)
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    # If the true class is the argmax, the best other class is the runner-up.
    best_other = torch.where(top.indices[:, 0] == y, top.values[:, 1], top.values[:, 0])
    return z_y, best_other, top.values


def dlr(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difference of Logits Ratio (Croce & Hein 2020, eq. 6), shift and scale invariant.

    DLR = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3), with π the logits sorted descending.
    """
    if logits.shape[1] < 3:
        raise UserError(
            f"the DLR loss needs >= 3 classes, got {logits.shape[1]}; use loss='ce' instead"
        )
    z_y, best_other, top = _true_and_best_other(logits, y)
    return -(z_y - best_other) / (top[:, 0] - top[:, 2] + 1e-12)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Carlini–Wagner margin max_{i≠y} z_i − z_y (positive iff misclassified)."""
    z_y, best_other, _ = _true_and_best_other(logits, y)
    return best_other - z_y


LOSSES: dict[str, LossFn] = {"ce": cross_entropy, "dlr": dlr, "cw": margin}


def get_loss(name: str) -> LossFn:
    return lookup("attack loss", name, LOSSES)
