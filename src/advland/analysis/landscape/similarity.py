"""Similarity of adversarial perturbations at θ ± a·v (paper §4.2, Fig. 3 and Fig. 10).

For each a on a grid, the parameters are moved to θ + a·v and θ − a·v (v a unit vector:
the top Hessian eigenvector, or a random direction), PGD is run at both, and the cosine
similarity between the perturbations x′(θ+av) − x and x′(θ−av) − x is averaged over the
split. Low similarity at small a is the paper's evidence that adversarial examples change
abruptly with θ along curved directions. The robust error at θ ± a·v is recorded too.

Zero perturbations (ε = 0, or PGD stuck at x) have no direction, so the cosine is defined
as 1 when both perturbations are zero (identical "no change") and 0 when exactly one is.

BatchNorm stays in eval mode throughout (attacks run in eval mode; nothing is
re-estimated), and θ is restored bit-exactly afterwards by copying the saved tensors back,
never by subtracting a·v again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from advland.analysis.params import (
    Vec,
    clone_params,
    norm,
    random_direction,
    set_params,
    trainable,
)
from advland.attacks import Threat, pgd
from advland.errors import UserError
from advland.fileio import atomic_write_json

DIRECTIONS = ("top-eigenvector", "random")
Split = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class SimilarityConfig:
    a: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
    eps: float = 8 / 255
    norm: str = "linf"
    steps: int = 10
    step_size: float | None = None  # None → eps/4 (the paper's CIFAR-10 setting)
    random_start: str = "step"
    restarts: int = 1
    attack_loss: str = "ce"
    repeats: int = 4  # R: the paper repeats 4× to average over PGD's random start
    seed: int = 0  # PGD seeds derive from (seed, repeat, a, side, split)
    same_start: bool = False  # True: θ+av and θ−av share the random start within a repeat
    direction: str = "top-eigenvector"  # label; "random" draws v when none is given
    direction_seed: int = 0
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise UserError(f"direction must be one of {DIRECTIONS}, got '{self.direction}'")
        if not self.a or any(a < 0 for a in self.a):
            raise UserError(f"a must be a non-empty grid of values >= 0, got {self.a}")
        for name in ("repeats", "steps", "restarts", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def alpha(self) -> float:
        return self.step_size if self.step_size is not None else self.eps / 4


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


def perturbation_cosine(d_plus: torch.Tensor, d_minus: torch.Tensor) -> torch.Tensor:
    """Per-example cosine of two perturbation batches [B, ...] → [B] (float64).

    Both zero → 1, exactly one zero → 0 (see module docstring). Computed as
    <u,w>/sqrt(<u,u><w,w>) in float64 so identical inputs give exactly 1.
    """
    u, w = d_plus.flatten(1).double(), d_minus.flatten(1).double()
    uw, uu, ww = (u * w).sum(1), (u * u).sum(1), (w * w).sum(1)
    cos = (uw / (uu * ww).sqrt()).clamp(-1.0, 1.0)
    zu, zw = uu == 0, ww == 0
    cos = torch.where(zu & zw, torch.ones_like(cos), cos)
    return torch.where(zu ^ zw, torch.zeros_like(cos), cos)


def _seed(cfg: SimilarityConfig, repeat: int, a_index: int, side: int, split: int) -> int:
    words = [cfg.seed, repeat, a_index, 0 if cfg.same_start else side, split]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def _attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg, seed: int) -> torch.Tensor:
    """PGD over the split in batches (eval-mode BN) → perturbations x′ − x on x's device."""
    threat, gen = Threat(norm=cfg.norm, eps=cfg.eps), torch.Generator().manual_seed(seed)
    dev = next(model.parameters()).device
    out = []
    for i in range(0, x.shape[0], cfg.batch_size):
        xb, yb = x[i : i + cfg.batch_size].to(dev), y[i : i + cfg.batch_size].to(dev)
        if cfg.eps == 0:
            out.append(torch.zeros_like(xb))
            continue
        x_adv = pgd(
            model, xb, yb, threat, steps=cfg.steps, step_size=cfg.alpha,
            random_start=cfg.random_start, restarts=cfg.restarts, loss=cfg.attack_loss,
            generator=gen, model_mode="eval",
        )  # fmt: skip
        out.append(x_adv - xb)
    return torch.cat(out)


@torch.no_grad()
def _robust_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, delta, bs: int) -> float:
    dev = next(model.parameters()).device
    wrong = 0
    for i in range(0, x.shape[0], bs):
        xb = x[i : i + bs].to(dev) + delta[i : i + bs]
        wrong += (model(xb).argmax(1) != y[i : i + bs].to(dev)).sum().item()  # host sync
    return 100.0 * wrong / x.shape[0]


def similarity_direction(
    model: nn.Module, direction: Sequence[torch.Tensor] | None, cfg: SimilarityConfig
) -> tuple[Vec, float]:
    """The unit vector v actually used, and the norm of the direction before normalising."""
    if direction is None:
        if cfg.direction != "random":
            raise UserError("direction=None needs cfg.direction='random'; pass the eigenvector")
        gen = torch.Generator().manual_seed(cfg.direction_seed)
        return [d.detach() for d in random_direction(model, gen)], 1.0
    vec = [d.detach().to(p.device) for d, p in zip(direction, trainable(model), strict=True)]
    n = float(norm(vec))
    if not n > 0:
        raise UserError(f"the direction has norm {n}; pass a non-zero vector")
    return [d / n for d in vec], n


def perturbation_similarity(
    model: nn.Module,
    direction: Sequence[torch.Tensor] | None,
    train: Split,
    test: Split,
    cfg: SimilarityConfig,
    out_dir: str | Path | None = None,
    indices: dict[str, list[int]] | None = None,
) -> SimilarityResult:
    """Cosine similarity of x′(θ+av)−x and x′(θ−av)−x and robust error at θ±av, R repeats.

    `direction=None` with cfg.direction="random" draws a unit Gaussian direction from
    cfg.direction_seed. `indices` (optional) records which data subset was used.
    """
    v, v_norm = similarity_direction(model, direction, cfg)
    theta = clone_params(model)
    modes = [(m, m.training) for m in model.modules()]
    keys = ["similarity_train", "similarity_test"]
    keys += [f"robust_error_{s}_{p}" for p in ("train", "test") for s in ("plus", "minus")]
    per = {k: np.zeros((cfg.repeats, len(cfg.a))) for k in keys}
    splits = {"train": train, "test": test}
    model.eval()
    try:
        work = [(r, j) for r in range(cfg.repeats) for j in range(len(cfg.a))]
        for r, j in tqdm(work, desc="similarity θ±av", leave=False):
            for s, (name, (x, y)) in enumerate(splits.items()):
                deltas = []
                for side, sign in enumerate((1.0, -1.0)):
                    set_params(
                        model, [t + (sign * cfg.a[j]) * d for t, d in zip(theta, v, strict=True)]
                    )
                    delta = _attack(model, x, y, cfg, _seed(cfg, r, j, side, s))
                    err = _robust_error(model, x, y, delta, cfg.batch_size)
                    per[f"robust_error_{('plus', 'minus')[side]}_{name}"][r, j] = err
                    deltas.append(delta)
                per[f"similarity_{name}"][r, j] = perturbation_cosine(*deltas).mean().item()
    finally:
        set_params(model, theta)  # copy back: bit-exact, unlike subtracting a·v
        for m, training in modes:
            m.training = training
    ddof = 1 if cfg.repeats > 1 else 0
    result = SimilarityResult(
        config=cfg,
        a=tuple(cfg.a),
        per_repeat=per,
        mean={k: v.mean(0) for k, v in per.items()},
        std={k: v.std(0, ddof=ddof) for k, v in per.items()},
        direction_norm=v_norm,
        provenance={
            "bn_mode": "eval (running statistics unchanged)",
            "attack": f"PGD-{cfg.steps} {cfg.norm} eps={cfg.eps} step={cfg.alpha} "
            f"start={cfg.random_start} restarts={cfg.restarts} loss={cfg.attack_loss}",
            "n_train": int(train[0].shape[0]),
            "n_test": int(test[0].shape[0]),
            "indices": indices,
            "seeds": "SeedSequence([seed, repeat, a_index, side (0 if same_start), split])",
            "std": f"over {cfg.repeats} repeats, ddof={ddof}",
        },
    )
    print_similarity_table(result)
    if out_dir is not None:
        save_similarity(result, out_dir)
    return result


def print_similarity_table(result: SimilarityResult) -> None:
    m, s = result.mean, result.std
    print(f"{'a':>8} {'cos(train)':>16} {'cos(test)':>16} {'rob.err train ±':>18}")
    for j, a in enumerate(result.a):
        err = (m["robust_error_plus_train"][j] + m["robust_error_minus_train"][j]) / 2
        print(
            f"{a:8.4f} {m['similarity_train'][j]:8.4f}±{s['similarity_train'][j]:.4f}"
            f" {m['similarity_test'][j]:8.4f}±{s['similarity_test'][j]:.4f} {err:17.2f}%"
        )


def save_similarity(result: SimilarityResult, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "similarity.json", result.to_dict())
    from advland.reporting.plot_similarity import plot_similarity  # matplotlib only if saving

    plot_similarity([result], out_dir / "similarity_figure")
