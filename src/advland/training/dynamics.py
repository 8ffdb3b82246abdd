"""Per-minibatch training dynamics (paper Fig. 1, 8): ‖∇θ L̂ε(θ)‖, robust batch error, ‖θ − θ0‖.

Values stay on the device during the epoch (no host sync per batch); `flush` moves them to
the host once per epoch. Cost per recorded batch: two fused `_foreach_norm` passes over the
parameters, negligible next to the k+1 forward/backward passes of a PGD-k step.
"""

from __future__ import annotations

import torch
from torch import nn


class DynamicsRecorder:
    def __init__(
        self, model: nn.Module, theta0: list[torch.Tensor], mode: str, n: int, total_steps: int
    ):
        self.params: list[torch.Tensor] = [p for p in model.parameters() if p.requires_grad]
        self.theta0 = theta0
        self.mode, self.n, self.total = mode, n, total_steps
        self.rows: list[tuple[int, torch.Tensor]] = []

    def wants(self, step: int) -> bool:
        if self.mode == "all":
            return True
        if self.mode == "first-last":
            return step < self.n or step >= self.total - self.n
        return False

    @torch.no_grad()
    def record(self, step: int, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Call after backward, before the optimizer step (gradient at θ_t, distance of θ_t)."""
        grads = [p.grad for p in self.params if p.grad is not None]
        grad_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        diff = torch._foreach_sub(self.params, self.theta0)
        dist = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(diff)))
        err = (logits.argmax(dim=1) != y).float().mean()
        self.rows.append((step, torch.stack([grad_norm, err, dist])))

    def flush(self, epoch: int) -> list[dict]:
        if not self.rows:
            return []
        values = torch.stack([v for _, v in self.rows]).cpu().tolist()  # one host sync per epoch
        out = [
            {"step": s, "epoch": epoch, "grad_norm": g, "robust_error": 100.0 * e, "dist_init": d}
            for (s, _), (g, e, d) in zip(self.rows, values, strict=True)
        ]
        self.rows = []
        return out
