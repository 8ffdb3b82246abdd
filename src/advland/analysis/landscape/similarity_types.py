"""Settings and results of perturbation similarity at θ ± a·v (`similarity`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from advland.analysis.landscape.adversary import FlatAttackReads, eval_mode_only
from advland.analysis.runner import validate_tool
from advland.attacks.spec import AttackConfig, accepts_flat_attack
from advland.errors import UserError
from advland.validation import setting

DIRECTIONS = ("top-eigenvector", "random")


@accepts_flat_attack
@dataclass(frozen=True)
class SimilarityConfig(FlatAttackReads):
    """The grid of a, the attack run at θ ± a·v (the paper's CIFAR-10 setting: step ε/4),
    R `repeats` to average over PGD's random start (the paper repeats 4×), the seeds (PGD
    seeds derive from (seed, repeat, a, side, split); `same_start`: θ+av and θ−av share
    the random start within a repeat) and the direction's label ("random" draws v from
    `direction_seed` when none is given)."""

    a: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
    attack: AttackConfig = field(default_factory=lambda: AttackConfig(eps=8 / 255))
    attack_loss: str = "ce"
    repeats: int = setting(4, ge=1)
    seed: int = 0
    same_start: bool = False
    direction: str = setting("top-eigenvector", choices=DIRECTIONS)
    direction_seed: int = 0
    batch_size: int = setting(256, ge=1)

    def __post_init__(self) -> None:
        validate_tool(self)

    def check(self, prefix: str = "") -> None:
        if not self.a or any(not a >= 0 for a in self.a):
            raise UserError(f"{prefix}a must be a non-empty grid of values >= 0, got {self.a}")
        eval_mode_only(self.attack, prefix, "perturbation similarity")


@dataclass(frozen=True)
class SimilarityResult:
    """Per-repeat arrays have shape [R, len(a)]; mean/std are over repeats (std: ddof=1)."""

    config: SimilarityConfig
    a: tuple[float, ...]
    per_repeat: dict[str, np.ndarray]
    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    direction_norm: float  # ‖v‖ before normalisation (1 for a random draw)
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "a": list(self.a),
            "mean": {k: v.tolist() for k, v in self.mean.items()},
            "std": {k: v.tolist() for k, v in self.std.items()},
            "per_repeat": {k: v.tolist() for k, v in self.per_repeat.items()},
            "direction_norm": self.direction_norm,
            "provenance": self.provenance,
        }
