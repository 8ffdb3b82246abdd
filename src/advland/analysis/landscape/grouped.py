"""P copies of one network, each with its own parameters, run as ONE network with P× the
channels (the loss-surface evaluator's fastest CPU path).

Why not `vmap(functional_call)`: vmap turns each convolution with per-point weights into a
grouped convolution on an NCHW tensor and each max-pool into NCHW pooling of [P·B, C, H, W];
on a CPU both run several times slower than in channels_last (docs/benchmarks.md §4).
Building the grouped network explicitly keeps every activation in channels_last.

Layout: activations are [B, P·C, ...]; point p owns channels p·C … (p+1)·C−1. Conv2d becomes
a convolution with P× the groups, Linear a batched matmul over the P blocks of its input,
eval-mode BatchNorm a BatchNorm over P·C channels; parameter-free modules that act per
channel (activations, pooling, flatten, dropout in eval) are kept. `flatten(1)` of a
[B, P·C, H, W] activation lays each point's features out contiguously, as the grouped
Linear expects. A forward that mixes channels outside modules (`torch.cat` on dim 1, a mean
over channels) would silently break this, so `GroupedNet.matches` compares the grouped
logits of two different points with `functional_call` before the path is used.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from advland.errors import UserError

# Parameter-free modules that act on each channel separately (or are the identity in eval).
PER_CHANNEL = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Hardswish,
    nn.Hardtanh,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.Flatten,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
)


class NotGroupable(UserError):
    """The model has a layer this path cannot split into per-point groups."""


class _Store:
    """The stacked parameters of the current P points, shared by all grouped layers."""

    def __init__(self) -> None:
        self.params: dict[str, torch.Tensor] = {}  # name -> [P, *shape]
        self.points = 0


class _GroupedLayer(nn.Module):
    def __init__(self, module: nn.Module, prefix: str, store: _Store) -> None:
        super().__init__()
        self.prefix, self.store = prefix, store
        self.has_bias = getattr(module, "bias", None) is not None

    def param(self, name: str) -> torch.Tensor:
        return self.store.params[self.prefix + name]

    def bias(self) -> torch.Tensor | None:
        return self.param("bias").flatten() if self.has_bias else None


class GroupedConv2d(_GroupedLayer):
    def __init__(self, conv: nn.Conv2d, prefix: str, store: _Store) -> None:
        if conv.padding_mode != "zeros":
            raise NotGroupable(f"{prefix}: padding_mode {conv.padding_mode!r} (only 'zeros')")
        super().__init__(conv, prefix, store)
        self.stride, self.padding = conv.stride, conv.padding
        self.dilation, self.groups = conv.dilation, conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.param("weight").flatten(0, 1)  # [P·out, in/groups, k, k]
        groups = self.groups * self.store.points
        return F.conv2d(x, weight, self.bias(), self.stride, self.padding, self.dilation, groups)


class GroupedLinear(_GroupedLayer):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.param("weight")  # [P, out, in]
        out = torch.einsum("...pi,poi->...po", x.unflatten(-1, (w.shape[0], w.shape[2])), w)
        if self.has_bias:
            out = out + self.param("bias")
        return out.flatten(-2)


class GroupedBatchNorm(_GroupedLayer):
    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, prefix: str, store: _Store) -> None:
        mean, var = bn.running_mean, bn.running_var
        if bn.training or mean is None or var is None:
            raise NotGroupable(f"{prefix}: BatchNorm must be in eval mode with running stats")
        super().__init__(bn, prefix, store)
        self.affine, self.eps = bn.affine, bn.eps
        self.register_buffer("running_mean", mean.detach().clone())
        self.register_buffer("running_var", var.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.store.points
        weight = self.param("weight").flatten() if self.affine else None
        bias = self.param("bias").flatten() if self.affine else None
        mean, var = self.running_mean.repeat(p), self.running_var.repeat(p)
        return F.batch_norm(x, mean, var, weight, bias, False, 0.0, self.eps)


def _convert(module: nn.Module, prefix: str, store: _Store) -> None:
    """Replace, in place, every child of `module` by its grouped counterpart."""
    for name, child in module.named_children():
        full = f"{prefix}{name}."
        if isinstance(child, nn.Conv2d):
            setattr(module, name, GroupedConv2d(child, full, store))
        elif isinstance(child, nn.Linear):
            setattr(module, name, GroupedLinear(child, full, store))
        elif isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d):
            setattr(module, name, GroupedBatchNorm(child, full, store))
        elif isinstance(child, PER_CHANNEL):
            continue
        elif any(True for _ in child.parameters(recurse=False)) or not any(child.children()):
            raise NotGroupable(f"{full[:-1]}: {type(child).__name__} cannot be grouped")
        else:  # a container or a custom block: its own forward only composes its children
            _convert(child, full, store)


class GroupedNet:
    """`model` for P parameter sets at once: `logits(params, xg)` with params {name: [P, …]}
    (every parameter of the model, trainable or not) and xg [B, P·C, …] → [P, B, classes]."""

    def __init__(self, model: nn.Module) -> None:
        if any(True for _ in model.parameters(recurse=False)):
            raise NotGroupable(f"{type(model).__name__} holds parameters outside its layers")
        self.store = _Store()
        self.net = copy.deepcopy(model).eval()
        _convert(self.net, "", self.store)
        for p in self.net.parameters():  # left only on kept modules: there are none
            p.requires_grad_(False)

    def logits(self, params: dict[str, torch.Tensor], xg: torch.Tensor) -> torch.Tensor:
        self.store.params = params
        self.store.points = next(iter(params.values())).shape[0]
        z = self.net(xg)  # [B, P·classes]
        return z.unflatten(1, (self.store.points, -1)).movedim(1, 0)

    def matches(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor) -> bool:
        """Grouped logits of the (≥ 2, different) points in `params` equal functional_call's.
        Points get different inputs (x, 1 − x, …) so that mixing them cannot cancel out."""
        n = next(iter(params.values())).shape[0]
        xs = torch.stack([x if p % 2 == 0 else 1 - x for p in range(n)])
        try:
            grouped = self.logits(params, to_grouped(xs, False))
        except RuntimeError:  # e.g. shapes that only fit one point's channels
            return False
        for p in range(n):
            ref = functional_call(model, {k: v[p] for k, v in params.items()}, (xs[p],))
            tol = 1e-4 * (1.0 + float(ref.abs().max()))
            if grouped[p].shape != ref.shape or not torch.allclose(grouped[p], ref, atol=tol):
                return False
        return True


def to_grouped(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """[P, B, C, …] → [B, P·C, …] (channels_last for images when asked)."""
    xg = x.movedim(0, 1).flatten(1, 2)
    if channels_last and xg.dim() == 4:
        return xg.contiguous(memory_format=torch.channels_last)
    return xg.contiguous()


def from_grouped(xg: torch.Tensor, points: int) -> torch.Tensor:
    """[B, P·C, …] → [P, B, C, …], a view (no copy)."""
    return xg.unflatten(1, (points, -1)).movedim(1, 0)
