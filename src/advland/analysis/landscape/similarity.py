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
from pathlib import Path

import numpy as np
import torch
from torch import nn

from advland.analysis.landscape.adversary import adversarial, attack_text
from advland.analysis.landscape.similarity_types import (
    DIRECTIONS,
    SimilarityConfig,
    SimilarityResult,
)
from advland.analysis.params import Vec, clone_params, norm, random_direction, set_params, trainable
from advland.analysis.runner import Job, progress
from advland.errors import UserError

__all__ = [
    "DIRECTIONS",
    "SimilarityConfig",
    "SimilarityResult",
    "compute_similarity",
    "perturbation_cosine",
    "perturbation_similarity",
    "save_similarity",
    "similarity_direction",
    "similarity_table",
]

Split = tuple[torch.Tensor, torch.Tensor]
SIDES = ("plus", "minus")  # θ + a·v, θ − a·v
SPLITS = ("train", "test")
KEYS = (
    *(f"similarity_{p}" for p in SPLITS),
    *(f"robust_error_{s}_{p}" for p in SPLITS for s in SIDES),
)


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


def _perturbations(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg, seed: int):
    """PGD over the split in batches (eval-mode BN) → perturbations x′ − x on x's device."""
    gen, dev, bs = (
        torch.Generator().manual_seed(seed),
        next(model.parameters()).device,
        cfg.batch_size,
    )
    out = []
    for i in range(0, x.shape[0], bs):
        xb, yb = x[i : i + bs].to(dev), y[i : i + bs].to(dev)
        x_adv = adversarial(model, xb, yb, cfg.attack, loss=cfg.attack_loss, generator=gen)
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
    *,
    out_dir: str | Path | None = None,
    indices: dict[str, list[int]] | None = None,
) -> SimilarityResult:
    """`compute_similarity`, its table printed; with `out_dir`, saved (`save_similarity`)."""
    job = Job("similarity", out_dir)
    result = compute_similarity(model, direction, train, test, cfg, indices=indices)
    job.show(similarity_table(result))
    if out_dir is not None:
        save_similarity(result, out_dir)
    return result


def compute_similarity(
    model: nn.Module,
    direction: Sequence[torch.Tensor] | None,
    train: Split,
    test: Split,
    cfg: SimilarityConfig,
    *,
    indices: dict[str, list[int]] | None = None,
) -> SimilarityResult:
    """Cosine similarity of x′(θ+av)−x and x′(θ−av)−x and robust error at θ±av, R repeats.

    `direction=None` with cfg.direction="random" draws a unit Gaussian direction from
    cfg.direction_seed. `indices` (optional) records which data subset was used.
    """
    v, v_norm = similarity_direction(model, direction, cfg)
    theta = clone_params(model)
    modes = [(m, m.training) for m in model.modules()]
    per = {k: np.zeros((cfg.repeats, len(cfg.a))) for k in KEYS}
    model.eval()
    try:
        work = [(r, j) for r in range(cfg.repeats) for j in range(len(cfg.a))]
        for r, j in progress(work, "similarity θ±av"):
            for s, (name, (x, y)) in enumerate(zip(SPLITS, (train, test), strict=True)):
                deltas = []
                for side, sign in enumerate((1.0, -1.0)):
                    set_params(
                        model, [t + (sign * cfg.a[j]) * d for t, d in zip(theta, v, strict=True)]
                    )
                    delta = _perturbations(model, x, y, cfg, _seed(cfg, r, j, side, s))
                    err = _robust_error(model, x, y, delta, cfg.batch_size)
                    per[f"robust_error_{SIDES[side]}_{name}"][r, j] = err
                    deltas.append(delta)
                per[f"similarity_{name}"][r, j] = perturbation_cosine(*deltas).mean().item()
    finally:
        set_params(model, theta)  # copy back: bit-exact, unlike subtracting a·v
        for m, training in modes:
            m.training = training
    sizes = {"n_train": int(train[0].shape[0]), "n_test": int(test[0].shape[0])}
    return _result(cfg, per, v_norm, sizes, indices)


def _result(
    cfg: SimilarityConfig, per: dict, v_norm: float, sizes: dict, indices
) -> SimilarityResult:
    ddof = 1 if cfg.repeats > 1 else 0
    provenance = {
        "bn_mode": "eval (running statistics unchanged)",
        "attack": attack_text(cfg.attack, cfg.attack_loss),
        **sizes,
        "indices": indices,
        "seeds": "SeedSequence([seed, repeat, a_index, side (0 if same_start), split])",
        "std": f"over {cfg.repeats} repeats, ddof={ddof}",
    }
    return SimilarityResult(
        config=cfg,
        a=tuple(cfg.a),
        per_repeat=per,
        mean={k: v.mean(0) for k, v in per.items()},
        std={k: v.std(0, ddof=ddof) for k, v in per.items()},
        direction_norm=v_norm,
        provenance=provenance,
    )


def similarity_table(result: SimilarityResult) -> str:
    m, s = result.mean, result.std
    lines = [f"{'a':>8} {'cos(train)':>16} {'cos(test)':>16} {'rob.err train ±':>18}"]
    for j, a in enumerate(result.a):
        err = (m["robust_error_plus_train"][j] + m["robust_error_minus_train"][j]) / 2
        lines.append(
            f"{a:8.4f} {m['similarity_train'][j]:8.4f}±{s['similarity_train'][j]:.4f}"
            f" {m['similarity_test'][j]:8.4f}±{s['similarity_test'][j]:.4f} {err:17.2f}%"
        )
    return "\n".join(lines)


def print_similarity_table(result: SimilarityResult) -> None:
    print(similarity_table(result))


def save_similarity(result: SimilarityResult, out_dir: str | Path) -> None:
    """similarity.json and similarity_figure.png/pdf/json in `out_dir`."""
    job = Job("similarity", out_dir)
    job.write_json("similarity.json", result.to_dict())
    job.figure(
        "advland.reporting.plot_similarity:plot_similarity", [result], job.path("similarity_figure")
    )
