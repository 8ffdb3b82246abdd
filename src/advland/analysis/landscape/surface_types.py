"""Settings and results of adversarial loss surfaces (`surface`, `surface_eval`)."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from advland.analysis.landscape.adversary import FlatAttackReads, eval_mode_only
from advland.analysis.params import Vec
from advland.analysis.runner import validate_tool
from advland.attacks.spec import FLAT_ATTACK_FIELDS, AttackConfig, accepts_flat_attack
from advland.errors import UserError
from advland.validation import setting

DIRECTION_KINDS = ("eigen", "filter-random")
MODES = ("auto", "grouped", "vmap", "loop")


# `eps` is the surface's own list of budgets, not the flat attack keyword
@accepts_flat_attack(fields=tuple(f for f in FLAT_ATTACK_FIELDS if f != "eps"))
@dataclass(frozen=True)
class SurfaceConfig(FlatAttackReads):
    """The grid a1 × a2 (a2 None: a 1-D curve along v1), the directions ("eigen": unit
    eigenvectors passed to `loss_surface`; "filter-random": filter-normalised random
    directions, 1-D parameters zeroed when `ignore_1d`, else kept at θ's scale), the
    budgets `eps` (None: 0 and attack.eps) and the attack run at each of them (each
    budget's attack is `attack` at that ε: step `attack.step_size`, or step_ratio·ε), then
    speed settings. `reuse_attack_block` k > 1 attacks once per k×k block of points
    (approximate). `channels_last`: image activations of the grouped and loop paths in
    channels_last, like training (docs/benchmarks.md §4); vmap decides its own layouts."""

    a1: tuple[float, float] = (-1.0, 1.0)
    n1: int = setting(21, ge=1)
    a2: tuple[float, float] | None = (-1.0, 1.0)
    n2: int = setting(21, ge=1)
    directions: str = setting("filter-random", choices=DIRECTION_KINDS)
    ignore_1d: bool = True
    direction_seed: int = 0
    eps: tuple[float, ...] | None = None
    attack: AttackConfig = field(default_factory=lambda: AttackConfig(eps=8 / 255))
    attack_loss: str = "ce"
    seed: int = 0
    batch_size: int = setting(256, ge=1)  # data examples per forward
    points_per_batch: int = setting(16, ge=1)  # grid points per batched forward/backward
    reuse_attack_block: int = setting(1, ge=1)  # 1 = off
    mode: str = setting("auto", choices=MODES)  # "auto": grouped, else vmap, else loop
    channels_last: bool = True

    def __post_init__(self) -> None:
        validate_tool(self)

    def check(self, prefix: str = "") -> None:
        eps = self.budgets()
        if not eps or any(not e >= 0 for e in eps):
            raise UserError(f"{prefix}eps must be a non-empty list of budgets >= 0, got {eps}")
        eval_mode_only(self.attack, prefix, "loss surface")

    def budgets(self) -> tuple[float, ...]:
        """The ε values of the scan: `eps`, or 0 and attack.eps."""
        if self.eps is not None:
            return tuple(self.eps)
        return tuple(sorted({0.0, self.attack.eps}))

    def attack_at(self, eps: float) -> AttackConfig:
        """The attack at budget `eps` (its step: step_size, or step_ratio·eps)."""
        return dataclasses.replace(self.attack, eps=eps)

    def alpha(self, eps: float) -> float:
        """Deprecated: the step at budget `eps`; use `attack_at(eps).step()`."""
        warnings.warn(
            "SurfaceConfig.alpha(eps) is deprecated; use attack_at(eps).step()",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.attack_at(eps).step()

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        a1 = np.linspace(*self.a1, self.n1)
        a2 = np.linspace(*self.a2, self.n2) if self.a2 is not None else np.zeros(1)
        return a1, a2


@dataclass(frozen=True)
class SurfaceResult:
    """loss/error have shape [len(eps), n1, n2] (n2 = 1 for a 1-D surface)."""

    config: SurfaceConfig
    a1: np.ndarray
    a2: np.ndarray
    eps: tuple[float, ...]
    loss: np.ndarray  # mean cross-entropy at the PGD examples of each point
    error: np.ndarray  # robust error (%) at those examples
    done: np.ndarray
    directions: list[Vec]
    direction_norms: list[float]
    mode_used: str
    points_evaluated: int  # in this call (resumed points excluded)
    seconds: float
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "a1": self.a1.tolist(),
            "a2": self.a2.tolist(),
            "eps": list(self.eps),
            "loss": self.loss.tolist(),
            "robust_error": self.error.tolist(),
            "direction_norms": self.direction_norms,
            "mode_used": self.mode_used,
            "points_evaluated": self.points_evaluated,
            "seconds": self.seconds,
            "provenance": self.provenance,
        }
