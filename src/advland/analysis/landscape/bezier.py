"""Bezier curves between two trained models of one architecture (paper eq. 30; Garipov
et al. 2018).

B(t) = Σ_{i=0..n} C(n,i) t^i (1−t)^{n−i} θ_i: θ_0 = θ_a and θ_n = θ_b are fixed, θ_1..θ_{n−1}
are trainable control points, initialised evenly on the straight line (so the initial
curve IS the line). Any nn.Module works unchanged: B(t) is evaluated with
`torch.func.functional_call(model, B(t), x)`. BatchNorm statistics are interpolated
linearly between the endpoints' (the control points carry none of their own).
"""

from __future__ import annotations

import copy
import math
from typing import cast

import torch
from torch import nn
from torch.func import functional_call

from advland.errors import UserError


def bernstein(t: float, order: int) -> torch.Tensor:
    """Weights C(n,i) t^i (1−t)^{n−i}, i = 0..n, in float64 (exactly 1,0,…,0 at t = 0)."""
    return torch.tensor(
        [math.comb(order, i) * t**i * (1 - t) ** (order - i) for i in range(order + 1)],
        dtype=torch.float64,
    )


class BezierCurve(nn.Module):
    """B(t) between two models of one architecture; only the control points are trainable."""

    def __init__(self, model_a: nn.Module, model_b: nn.Module, order: int) -> None:
        super().__init__()
        pa, pb = dict(model_a.named_parameters()), dict(model_b.named_parameters())
        ba, bb = dict(model_a.named_buffers()), dict(model_b.named_buffers())
        for what, a, b in (("parameters", pa, pb), ("buffers", ba, bb)):
            shapes_a = {k: v.shape for k, v in a.items()}
            if shapes_a != {k: v.shape for k, v in b.items()}:
                raise UserError(f"the two models' {what} differ; pass two of one architecture")
        self.order = order
        self.names = [k for k, p in pa.items() if p.requires_grad]
        self.buf_names = list(ba)
        self.template = copy.deepcopy(model_a).requires_grad_(False)  # architecture only
        self.template.eval()
        self._register("start", [pa[k] for k in self.names])
        self._register("end", [pb[k] for k in self.names])
        # BN statistics: interpolated linearly between the endpoints (re-estimated at eval)
        self._register("buf_a", [ba[k] for k in self.buf_names])
        self._register("buf_b", [bb[k] for k in self.buf_names])
        self.controls = nn.ModuleList()
        for i in range(1, order):  # evenly on the straight line: the initial curve is the line
            s = i / order
            line = [(1 - s) * pa[k].detach() + s * pb[k].detach() for k in self.names]
            self.controls.append(nn.ParameterList([nn.Parameter(t.clone()) for t in line]))
        self.history: list[dict] = []

    def _register(self, prefix: str, tensors: list[torch.Tensor]) -> None:
        # buffers, not parameters: they follow .to() and state_dict but are never trained
        for k, t in enumerate(tensors):
            self.register_buffer(f"{prefix}_{k}", t.detach().clone())

    def _stored(self, prefix: str, n: int) -> list[torch.Tensor]:
        return [getattr(self, f"{prefix}_{k}") for k in range(n)]

    def control_parameters(self) -> list[nn.Parameter]:
        return list(self.controls.parameters())

    def points(self) -> list[list[torch.Tensor]]:
        n = len(self.names)
        ends = self._stored("start", n), self._stored("end", n)
        return [ends[0], *(list(cast(nn.ParameterList, c)) for c in self.controls), ends[1]]

    def params_at(self, t: float) -> dict[str, torch.Tensor]:
        """B(t) as a name → tensor dict (differentiable w.r.t. the control points)."""
        w = bernstein(t, self.order)
        out: dict[str, torch.Tensor] = {}
        for k, name in enumerate(self.names):
            acc: torch.Tensor | None = None
            for i, pts in enumerate(self.points()):
                term = w[i].to(pts[k].dtype) * pts[k]
                acc = term if acc is None else acc + term
            assert acc is not None  # the curve has at least its two ends
            out[name] = acc
        return out

    def buffers_at(self, t: float) -> dict[str, torch.Tensor]:
        """Endpoint buffers mixed (1−t)/t; integer buffers (BN batch counters) from model_a."""
        out = {}
        n = len(self.buf_names)
        pairs = zip(self._stored("buf_a", n), self._stored("buf_b", n), strict=True)
        for name, (a, b) in zip(self.buf_names, pairs, strict=True):
            out[name] = (1 - t) * a + t * b if a.is_floating_point() else a.clone()
        return out

    def forward(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """f(x; B(t)) with the template's current train/eval mode; buffers are copies."""
        state = {**self.params_at(t), **{k: v.clone() for k, v in self.buffers_at(t).items()}}
        return functional_call(self.template, state, (x,))

    @torch.no_grad()
    def model_at(self, t: float) -> nn.Module:
        """A standalone copy of the architecture with B(t) (and interpolated buffers) loaded."""
        model = copy.deepcopy(self.template).eval()
        for name, p in model.named_parameters():
            p.requires_grad_(name in self.names)
        load_point(model, self, t)
        return model


@torch.no_grad()
def load_point(model: nn.Module, curve: BezierCurve, t: float) -> None:
    """Copy B(t) and the interpolated buffers into `model` (same architecture)."""
    state = {**curve.params_at(t), **curve.buffers_at(t)}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if name in state:
            tensor.copy_(state[name])
