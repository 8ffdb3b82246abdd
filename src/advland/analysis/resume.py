"""Resume bookkeeping shared by the long analyses (loss surface, Hessian spectrum, Bezier
curve training).

Partial work is stored next to the results (atomically, checksummed: `advland.fileio`)
together with a fingerprint of everything it depends on: the settings that affect the
result and the bytes of every tensor involved (weights, data, directions). A later call
reuses the partial work only when its own fingerprint matches, so a changed config, model
or data subset is never mixed with stale numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import torch
from torch import nn


def fingerprint(settings: dict, tensors: Iterable[torch.Tensor]) -> str:
    """SHA-256 of `settings` (as sorted JSON) followed by the raw bytes of each tensor."""
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    for t in tensors:
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def architecture(model: nn.Module) -> list[list]:
    """Names, shapes and dtypes of the model's state (identifies the architecture, not θ)."""
    return [[k, list(t.shape), str(t.dtype)] for k, t in model.state_dict().items()]
