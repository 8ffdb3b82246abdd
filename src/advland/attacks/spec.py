"""One attack specification, shared by training, evaluation and every analysis tool.

`AttackConfig` is nested as `attack:` in the run config and in each tool's config, so a
budget is set the same way everywhere (`--set attack.eps=0.1`). An analysis defaults to
the analysed run's own training attack.

The step size follows one rule: `step_size` when given (in pixel units, at the attack's
ε), otherwise `step_ratio · ε`. The default ratio 1/4 is ε/4, which for PGD-10 is also
Madry et al.'s 2.5·ε/steps. While a training schedule changes ε, `step_scaling:
relative` keeps step/ε constant.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from advland.attacks.pgd import RANDOM_STARTS, pgd
from advland.attacks.threat import NORMS, Threat
from advland.distributed import Shard
from advland.errors import UserError
from advland.validation import setting


@dataclass(frozen=True)
class AttackConfig:
    """A PGD attack: threat model (norm, ε in pixel units), steps and step size, random
    start ("step": uniform in ±step, as the paper's code; "eps": uniform in the ε-ball,
    as Madry et al.; "none"), restarts, and the model mode while it runs."""

    norm: str = setting("linf", choices=NORMS)
    eps: float = setting(0.3, ge=0)
    steps: int = setting(10, gt=0)
    step_size: float | None = setting(None, gt=0)
    step_ratio: float = setting(0.25, gt=0)
    random_start: str = setting("step", choices=RANDOM_STARTS)
    restarts: int = setting(1, gt=0)
    step_scaling: str = setting("relative", choices=("relative", "fixed"))
    model_mode: str = setting("eval", choices=("eval", "train"))

    def step(self, eps: float | None = None) -> float:
        """The step size at the attack's own ε, or at a scheduled budget `eps`: with
        `step_scaling: relative` the step keeps its ratio to ε, with `fixed` it stays the
        step at the attack's ε."""
        at_eps = self.step_size if self.step_size is not None else self.step_ratio * self.eps
        if eps is None or self.step_scaling == "fixed" or self.eps == 0:
            return at_eps
        return at_eps * eps / self.eps

    def threat(self, eps: float | None = None) -> Threat:
        return Threat(self.norm, self.eps if eps is None else eps)

    def run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        generator: torch.Generator | None,
        loss: str = "ce",
        model_mode: str | None = None,
        rows: Shard | None = None,
    ) -> torch.Tensor:
        """x_adv: PGD with these settings at the attack's own ε and step (`step()`);
        `model_mode` overrides the configured one (the analysis tools attack in eval mode);
        `rows`: x is a data-parallel rank's rows of a batch (see `pgd`)."""
        return pgd(
            model,
            x,
            y,
            self.threat(),
            steps=self.steps,
            step_size=self.step(),
            random_start=self.random_start,
            restarts=self.restarts,
            loss=loss,
            generator=generator,
            model_mode=model_mode or self.model_mode,
            rows=rows,
        )

    def check(self, prefix: str = "") -> None:
        if self.norm == "linf" and self.eps > 1:
            raise UserError(
                f"{prefix}eps={self.eps} exceeds the [0,1] pixel range; give ε in pixel units, e.g. 8/255=0.0314"
            )


# The attack settings tool configs once took as flat keywords, before nesting `attack`.
FLAT_ATTACK_FIELDS = ("eps", "norm", "steps", "step_size", "random_start", "restarts", "step_ratio")


def accepts_flat_attack(
    cls: type | None = None,
    *,
    fields: tuple[str, ...] = FLAT_ATTACK_FIELDS,
    unset_step: Callable[[AttackConfig], float | None] | None = None,
):
    """Class decorator for a tool config with an `attack: AttackConfig` field: it still
    accepts the attack's settings as flat keywords (`Cfg(eps=0.1, steps=3)`), with a
    DeprecationWarning, folded into `attack` (the one given, else the field's default).

    `fields` names the flat keywords to fold (a tool whose own field shares a name keeps
    it). `unset_step(attack)`, when given, is the step size a flat call meant when it set
    neither step_size nor step_ratio (the tool's former rule), so such calls keep their
    numbers."""

    def wrap(cls: type) -> type:
        init = vars(cls)["__init__"]

        @functools.wraps(init)
        def __init__(self, *args, **kwargs) -> None:
            flat = {k: kwargs.pop(k) for k in fields if k in kwargs}
            if flat:
                names = ", ".join(flat)
                warnings.warn(
                    f"{cls.__name__}: the flat attack settings {names} are deprecated; "
                    "pass attack=AttackConfig(...)",
                    DeprecationWarning,
                    stacklevel=2,
                )
                base = kwargs.get("attack") or _default_attack(cls)
                kwargs["attack"] = fold_flat_attack(base, flat, unset_step)
            init(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]
        return cls

    return wrap if cls is None else wrap(cls)


def fold_flat_attack(
    attack: AttackConfig,
    flat: dict,
    unset_step: Callable[[AttackConfig], float | None] | None = None,
) -> AttackConfig:
    """`attack` with the flat settings `flat` applied (see `accepts_flat_attack`)."""
    attack = dataclasses.replace(attack, **flat)
    if unset_step is not None and "step_size" not in flat and "step_ratio" not in flat:
        step = unset_step(attack)
        if step is not None:
            attack = dataclasses.replace(attack, step_size=step)
    return attack


def _default_attack(cls: type) -> AttackConfig:
    f = {f.name: f for f in dataclasses.fields(cls)}["attack"]
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default if f.default is not dataclasses.MISSING else AttackConfig()
