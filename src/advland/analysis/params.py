"""Parameter-vector utilities shared by every analysis tool.

A "vector" here is a list of tensors shaped like the model's trainable parameters (the
layout `torch.autograd.grad` returns), so no copy into one flat buffer is needed on the
hot path; `flatten`/`unflatten` convert when a solver wants a single 1-D tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

Vec = list[torch.Tensor]


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def clone_params(model: nn.Module) -> Vec:
    return [p.detach().clone() for p in trainable(model)]


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in trainable(model))


def flatten(vec: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.reshape(-1) for v in vec])


def unflatten(flat: torch.Tensor, like: Sequence[torch.Tensor]) -> Vec:
    out, i = [], 0
    for t in like:
        out.append(flat[i : i + t.numel()].view_as(t))
        i += t.numel()
    return out


def dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    # sum() starts from the int 0; 0 + tensor is the tensor, so the result is one.
    return cast(torch.Tensor, sum((x * y).sum() for x, y in zip(a, b, strict=True)))


def norm(a: Sequence[torch.Tensor]) -> torch.Tensor:
    return dot(a, a).sqrt()


@torch.no_grad()
def set_params(model: nn.Module, values: Sequence[torch.Tensor]) -> None:
    for p, v in zip(trainable(model), values, strict=True):
        p.copy_(v)


@torch.no_grad()
def add_to_params(model: nn.Module, direction: Sequence[torch.Tensor], alpha: float) -> None:
    """θ ← θ + alpha·direction, in place."""
    for p, d in zip(trainable(model), direction, strict=True):
        p.add_(d, alpha=alpha)


def random_direction(model: nn.Module, generator: torch.Generator | None = None) -> Vec:
    """A Gaussian direction with unit Euclidean norm over all trainable parameters."""
    vec = [
        torch.randn(p.shape, generator=generator, device="cpu", dtype=p.dtype).to(p.device)
        for p in trainable(model)
    ]
    n = norm(vec)
    return [v / n for v in vec]


def filter_normalized_direction(
    model: nn.Module, generator: torch.Generator | None = None, ignore_1d: bool = True
) -> Vec:
    """Filter-normalised random direction (Li et al. 2018).

    Each output filter d_i of the Gaussian direction is rescaled to the norm of the
    corresponding filter θ_i, so the direction respects the scale invariance of ReLU nets.
    1-D parameters (biases, BatchNorm) are zeroed when `ignore_1d`, else kept at θ's scale.
    """
    out = []
    for p in trainable(model):
        d = torch.randn(p.shape, generator=generator, device="cpu", dtype=p.dtype).to(p.device)
        if p.dim() <= 1:
            out.append(
                torch.zeros_like(p) if ignore_1d else d * (p.detach().norm() / (d.norm() + 1e-12))
            )
            continue
        d_f = d.reshape(d.shape[0], -1)
        p_f = p.detach().reshape(p.shape[0], -1)
        scale = p_f.norm(dim=1, keepdim=True) / (d_f.norm(dim=1, keepdim=True) + 1e-12)
        out.append((d_f * scale).view_as(p))
    return out
