"""Building blocks for the user's own training loop: periodic adversarial scheduling in a
plain PyTorch loop, with the same semantics as `advland.fit` and `advland train`.

    pas = advland.PAS.build(eps=0.3, epochs=20, periods=[0, 10, 20], eps_schedule="cosine",
                            eps_max=0.45, lr=1e-3)
    attack = advland.AttackConfig(eps=0.3, steps=10, step_size=0.075)
    for epoch in range(pas.epochs):
        for x, y in loader:
            pas.set_lr(optimizer, epoch)
            advland.adversarial_step(model, optimizer, x, y, pas.eps(epoch), attack)
        if pas.ends_period(epoch + 1):
            snapshots.append(copy.deepcopy(model))      # then advland.SnapshotEnsemble(snapshots)

`PAS` answers ε(t), lr(t) (t the epoch, fractional with per-batch updates), the period of
t and whether a completed-epoch count ends a period; it is built from the same config
sections and rules as a run (`eps_schedule`, `lr_schedule`, `train.periods`), so a value
outside the rules is the same one-line error. `adversarial_step` is the trainer's own
step: PGD at ε_t with the attack's step rule, then one optimizer step on the adversarial
batch. `as_tensors` (`advland.data.user`) turns a Dataset or DataLoader into the (x, y)
tensors the analysis tools take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from advland.attacks.spec import AttackConfig
from advland.config import RunConfig, build_config, from_dict, to_dict, validate
from advland.runs.checkpoint import Generators
from advland.schedules import Schedule, period_index
from advland.training.loop import train_step
from advland.training.setup import eps_schedule, lr_schedule, snapshot_epochs


@dataclass(frozen=True)
class PAS:
    """ε and learning-rate schedules with periodic resets (one object, stateless)."""

    eps_at: Schedule
    lr_at: Schedule
    periods: tuple[float, ...]
    epochs: int

    @classmethod
    def from_config(cls, cfg: RunConfig) -> PAS:
        return cls(eps_schedule(cfg), lr_schedule(cfg), tuple(cfg.train.periods), cfg.train.epochs)

    @classmethod
    def build(
        cls,
        *,
        eps: float,
        epochs: int,
        lr: float,
        periods: Sequence[float] = (),
        eps_schedule: str = "cosine",
        eps_max: float | None = None,
        eps_min: float = 0.0,
        warmup: float = 0.0,
        lr_schedule: str = "constant",
        milestones: Sequence[float] = (),
        gamma: float = 0.1,
    ) -> PAS:
        """From keywords, checked by the run config's rules; `eps_max` defaults to 1.5 ε."""
        data = to_dict(build_config(None, []))
        data["attack"]["eps"] = eps
        data["train"].update(epochs=epochs, periods=list(periods))
        data["eps_schedule"] = dict(
            kind=eps_schedule,
            eps_min=eps_min,
            eps_max=1.5 * eps if eps_max is None else eps_max,
            warmup=warmup,
        )
        data["optim"]["lr"] = lr
        data["lr_schedule"].update(kind=lr_schedule, milestones=list(milestones), gamma=gamma)
        cfg = from_dict(RunConfig, data)
        validate(cfg)
        return cls.from_config(cfg)

    def eps(self, t: float) -> float:
        """ε at epoch t (paper eq. 5, replayed inside each period)."""
        return self.eps_at(float(t))

    def lr(self, t: float) -> float:
        return self.lr_at(float(t))

    def period(self, t: float) -> int:
        return period_index(self.periods, float(t)) if self.periods else 0

    def ends_period(self, completed_epochs: int) -> bool:
        """True when `completed_epochs` is the end of a period (take a snapshot now)."""
        return completed_epochs in {int(b) for b in self.periods[1:]}

    def set_lr(self, optimizer: torch.optim.Optimizer, t: float) -> float:
        """Set every parameter group's learning rate to lr(t); returns it."""
        value = self.lr(t)
        for group in optimizer.param_groups:
            group["lr"] = value
        return value


def adversarial_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    attack: AttackConfig,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PGD at budget `eps` (step from `attack.step(eps)`, skipped at ε = 0), then one
    optimizer step on the adversarial batch; returns (mean loss, logits), detached."""
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    cfg = RunConfig(attack=attack)
    return train_step(cfg, model, optimizer, x, y, eps, gens=Generators(data=gen, attack=gen))


__all__ = ["PAS", "adversarial_step", "snapshot_epochs"]
