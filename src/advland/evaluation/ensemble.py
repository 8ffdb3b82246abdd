"""The PAS snapshot ensemble, attacked as one model.

Members' softmax probabilities are averaged (reference-code semantics). `forward` returns
log(mean_i softmax(f_i(x))), so cross-entropy on these "logits" is exactly the ensemble
loss −log(mean probability) and every attack works on the ensemble unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SnapshotEnsemble(nn.Module):
    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_probs = torch.stack([m(x).log_softmax(dim=1) for m in self.members])
        # logsumexp keeps the average of probabilities exact in log space (no underflow).
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))
