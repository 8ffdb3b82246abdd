"""The threat model: an ℓ∞ or ℓ2 ball of radius ε around x, intersected with the [0,1] box.

It owns the three norm-dependent pieces every attack needs — the ascent direction, the
projection and the random start — so attacks share one loop and the norm is a parameter.
ε may be a Python float or a 0-dim tensor; a tensor lets a compiled training
step follow an ε schedule without recompiling.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace

import torch

from advland.distributed import Shard
from advland.errors import UserError

NORMS = ("linf", "l2")
_TINY = 1e-12  # guards divisions by per-example norms (zero gradients, zero perturbations)

Scalar = float | torch.Tensor


def check_scalar(name: str, value: Scalar, *, positive: bool, hint: str) -> None:
    """Validate a float or 0-dim tensor budget; raises UserError with a one-line message."""
    if isinstance(value, torch.Tensor):
        if value.dim() != 0 or not value.is_floating_point():
            raise UserError(f"{name} must be a float or 0-dim float tensor, got {value!r}; {hint}")
        if value.device.type != "cpu":
            return  # checking a device tensor's value would sync; trust the caller there
        value = float(value)
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UserError(f"{name} must be a number, got {value!r}; {hint}")
    bad = not (value > 0 if positive else value >= 0) or value != value  # NaN fails both
    if bad:
        need = "> 0" if positive else ">= 0"
        raise UserError(f"{name} must be {need}, got {value}; {hint}")


def _per_example(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a [B] vector to broadcast against ``like`` of shape [B, ...]."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def l2_norm(v: torch.Tensor) -> torch.Tensor:
    """Per-example ℓ2 norm, shaped to broadcast against ``v``."""
    return _per_example(v.flatten(1).norm(dim=1), v)


@dataclass(frozen=True)
class Threat:
    norm: str = "linf"
    eps: Scalar = 8 / 255

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise UserError(f"unknown threat norm '{self.norm}'; use 'linf' or 'l2'")
        check_scalar("eps", self.eps, positive=False, hint="pass a non-negative budget, e.g. 8/255")

    def to(self, device: torch.device) -> Threat:
        """This threat with a tensor ε moved to ``device`` (once per attack, not per step)."""
        if isinstance(self.eps, torch.Tensor) and self.eps.device != device:
            return replace(self, eps=self.eps.to(device))
        return self

    def ascent(self, grad: torch.Tensor) -> torch.Tensor:
        """Steepest-ascent direction of unit norm: sign(g) for ℓ∞, g/‖g‖₂ per example for ℓ2."""
        if self.norm == "linf":
            return grad.sign()
        return grad / l2_norm(grad).clamp_min(_TINY)  # zero gradient -> zero step

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Project onto the ε-ball around x, then clip to [0,1].

        Clipping after the ball projection stays inside the ball: x ∈ [0,1], so clipping
        only moves each coordinate towards x and cannot increase |δ_i|.
        """
        delta = x_adv - x
        if self.norm == "linf":
            delta = delta.clamp(-self.eps, self.eps)  # type: ignore[arg-type]  # float or tensor
        else:
            # Scale by min(1, ε/‖δ‖): points outside move onto the sphere along the ray.
            delta = delta * (self.eps / l2_norm(delta).clamp_min(_TINY)).clamp(max=1.0)
        return (x + delta).clamp(0.0, 1.0)

    def random_init(
        self,
        x: torch.Tensor,
        radius: Scalar,
        generator: torch.Generator | None,
        rows: Shard | None = None,
    ) -> torch.Tensor:
        """x + δ with δ uniform in the norm ball of ``radius``, then projected.

        Noise is drawn on the generator's device (CPU by default) and moved to x's device,
        so a seeded CPU generator gives the same start on every device. `rows`: x is rows
        [start, stop) of a batch of `total` rows (a data-parallel rank's share); the noise
        of the whole batch is drawn and these rows are kept, so the start equals that of
        one process attacking the whole batch and the generator advances the same.
        """
        gen_device = generator.device if generator is not None else torch.device("cpu")
        dtype = x.dtype if x.dtype == torch.float64 else torch.float32
        shape = x.shape if rows is None else (rows.total, *x.shape[1:])
        if self.norm == "linf":
            u = torch.rand(shape, generator=generator, dtype=dtype, device=gen_device)
            u = u if rows is None else rows.take(u)
            delta = (2 * u - 1).to(x.device, x.dtype)
        else:
            # Uniform in the unit ℓ2 ball: Gaussian direction, radius U^(1/d).
            g = torch.randn(shape, generator=generator, dtype=dtype, device=gen_device)
            u = torch.rand(shape[0], generator=generator, dtype=dtype, device=gen_device)
            if rows is not None:
                g, u = rows.take(g), rows.take(u)
            r = _per_example(u ** (1.0 / x[0].numel()), g)
            delta = (g / l2_norm(g).clamp_min(_TINY) * r).to(x.device, x.dtype)
        return self.project(x + radius * delta, x)
