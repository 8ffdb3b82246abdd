"""PGD from an `AttackConfig`, as the landscape tools run it on a model or a model copy."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from advland.attacks.spec import FLAT_ATTACK_FIELDS, AttackConfig
from advland.errors import UserError


def adversarial(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: AttackConfig,
    *,
    loss: str,
    generator: torch.Generator,
    model_mode: str = "eval",
) -> torch.Tensor:
    """PGD with `attack`'s settings at its ε and step (`attack.step()`), the input itself
    when ε = 0 (no random numbers drawn)."""
    if attack.eps == 0:
        return x
    return attack.run(model, x, y, generator=generator, loss=loss, model_mode=model_mode)


def attack_text(attack: AttackConfig, loss: str) -> str:
    """The attack as one provenance line."""
    return (
        f"PGD-{attack.steps} {attack.norm} eps={attack.eps} step={attack.step()} "
        f"start={attack.random_start} restarts={attack.restarts} loss={loss}"
    )


def eval_mode_only(attack: AttackConfig, prefix: str, tool: str) -> None:
    """A tool that attacks in eval mode refuses `attack.model_mode: train` by name."""
    if attack.model_mode != "eval":
        raise UserError(
            f"{prefix}attack.model_mode='{attack.model_mode}' is not supported: the {tool} "
            "attacks in eval mode (BatchNorm statistics untouched); set attack.model_mode=eval"
        )


class FlatAttackReads:
    """Base of a tool config with an `attack` field: the attack's settings still read as
    flat attributes (`cfg.steps`, `cfg.alpha` for the step), with a DeprecationWarning.
    Hidden from type checkers, so new code is checked against `cfg.attack`."""

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            if name not in FLAT_ATTACK_FIELDS and name != "alpha":
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            new = "attack.step()" if name == "alpha" else f"attack.{name}"
            warnings.warn(
                f"{type(self).__name__}.{name} is deprecated; read .{new}",
                DeprecationWarning,
                stacklevel=2,
            )
            attack = object.__getattribute__(self, "attack")
            return attack.step() if name == "alpha" else getattr(attack, name)
