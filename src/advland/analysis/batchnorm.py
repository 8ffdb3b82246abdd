"""BatchNorm statistics re-estimation.

Used wherever parameters are moved away from where their running statistics were
measured (random θ for eigenvalue normalisation, points on a Bezier curve). The running
mean/variance are reset and recomputed as an exact cumulative average over one pass
(`momentum=None`), in train mode and without gradients; the model's modes and momenta
are restored afterwards, so nothing else is polluted.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

_BN = nn.modules.batchnorm._BatchNorm


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, _BN) for m in model.modules())


@torch.no_grad()
def reestimate_bn(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Recompute BN running statistics from `batches` of inputs; returns images seen."""
    bns = [m for m in model.modules() if isinstance(m, _BN)]
    if not bns:
        return 0
    modes = {m: m.training for m in model.modules()}
    momenta = {m: m.momentum for m in bns}
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # exact cumulative average over the pass
    model.train()
    seen = 0
    try:
        for x in batches:
            model(x)
            seen += x.shape[0]
    finally:
        for module, mode in modes.items():
            module.training = mode
        for bn, mom in momenta.items():
            bn.momentum = mom
    return seen
