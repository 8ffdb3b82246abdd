"""PGD from an `AttackConfig`, as the landscape tools run it on a model or a model copy."""

from __future__ import annotations

import torch
from torch import nn

from advland.attacks import pgd
from advland.attacks.spec import AttackConfig
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
    return pgd(
        model,
        x,
        y,
        attack.threat(),
        steps=attack.steps,
        step_size=attack.step(),
        random_start=attack.random_start,
        restarts=attack.restarts,
        loss=loss,
        generator=generator,
        model_mode=model_mode,
    )


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
