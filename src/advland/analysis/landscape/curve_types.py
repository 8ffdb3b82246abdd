"""Settings and results of Bezier-curve mode connectivity (`curves`, `curve_eval`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from advland.analysis.landscape.adversary import FlatAttackReads, eval_mode_only
from advland.analysis.runner import validate_tool
from advland.attacks.spec import AttackConfig, accepts_flat_attack
from advland.validation import setting

Split = tuple[torch.Tensor, torch.Tensor]
METRICS = ("loss", "error", "clean_loss", "clean_error")
OPTIMIZERS = ("adam", "sgd")
BN_MODES = ("train", "eval")


@accepts_flat_attack
@dataclass(frozen=True)
class CurveConfig(FlatAttackReads):
    """Training of the control points (paper: order 2 for MNIST pairs, 4 for CIFAR-10
    pairs), the attack at B(t) (ε = 0: clean training), the BatchNorm modes of training
    (see `curves`) and the evaluation grid of `num_t` values of t."""

    order: int = setting(2, ge=1)
    epochs: int = 10
    lr: float = 1e-3
    optimizer: str = setting("adam", choices=OPTIMIZERS)
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    batch_size: int = setting(128, ge=1)
    attack: AttackConfig = field(default_factory=lambda: AttackConfig(eps=0.0))
    attack_loss: str = "ce"
    train_bn_mode: str = setting("train", choices=BN_MODES)  # BN mode of the loss at B(t)
    attack_bn_mode: str = setting("eval", choices=BN_MODES)  # BN mode of the training attack
    num_t: int = setting(21, ge=1)
    seed: int = 0
    bn_examples: int | None = None  # inputs for BN re-estimation (None or 0: all)
    bn_batch_size: int = setting(256, ge=1)
    eval_batch_size: int = setting(256, ge=1)
    checkpoint_every: int = setting(50, ge=1)  # batches between training checkpoints

    def __post_init__(self) -> None:
        validate_tool(self)

    def check(self, prefix: str = "") -> None:
        eval_mode_only(self.attack, prefix, "curve evaluation")


@dataclass(frozen=True)
class CurveResult:
    """Metrics along t: "{train,test}_{loss,error,clean_loss,clean_error}" (error in %).

    "loss"/"error" are at the curve's ε (robust; equal to clean when ε = 0).
    """

    config: CurveConfig
    t: tuple[float, ...]
    metrics: dict[str, tuple[float, ...]]
    history: tuple[dict, ...] = ()
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "t": list(self.t),
            "metrics": {k: list(v) for k, v in self.metrics.items()},
            "history": list(self.history),
            "provenance": self.provenance,
        }
