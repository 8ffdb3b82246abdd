"""Projected gradient descent (Madry et al. 2018) for ℓ∞ and ℓ2, sharing one loop.

x_{t+1} = Π_{B_ε(x) ∩ [0,1]^d}( x_t + α · ascent(∇_x L(f(x_t), y)) ), returning the last
iterate; with restarts, the per-example worst case over restarts (a misclassifying point
beats a correct one, then the higher loss wins).

Also home of what every attack here shares: `attack_mode` (parameters frozen, BN mode set,
everything restored exactly) and `keep_worst` (per-example selection without host syncs).

Random starts: "step" draws δ uniformly with radius α, as the paper's reference
code does; "eps" uses radius ε as Madry et al. and torchattacks do; "none" starts at x.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from advland.attacks.losses import LossFn, get_loss
from advland.attacks.threat import Scalar, Threat, check_scalar
from advland.distributed import Shard
from advland.errors import UserError

MODEL_MODES = ("eval", "train", "keep")
RANDOM_STARTS = ("step", "eps", "none")


@contextmanager
def attack_mode(model: nn.Module, model_mode: str) -> Iterator[None]:
    """Freeze parameters and set the train/eval mode for an attack; restore both exactly.

    Parameters get requires_grad=False so the attack neither builds nor accumulates
    parameter gradients (input gradients come from torch.autograd.grad). "eval" is the
    reference code's choice for training-time attacks and the only honest one for
    evaluation; "train" uses batch statistics (and updates BN running statistics);
    "keep" leaves the modes alone.
    """
    if model_mode not in MODEL_MODES:
        raise UserError(f"unknown model_mode '{model_mode}'; use one of {', '.join(MODEL_MODES)}")
    flags = [(p, p.requires_grad) for p in model.parameters()]
    modes = [(m, m.training) for m in model.modules()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        if model_mode != "keep":
            model.train(model_mode == "train")
        with torch.enable_grad():  # callers may evaluate under no_grad
            yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, training in modes:
            m.training = training


def _per_example(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, *([1] * (like.dim() - 1)))


def score(
    model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example (loss, misclassified) at x_adv, without building a graph."""
    with torch.no_grad():
        logits = model(x_adv)
    loss = loss_fn(logits, y)
    return loss.to(torch.promote_types(loss.dtype, torch.float32)), logits.argmax(1) != y


def keep_worst(
    best: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    cand: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-example worse of two (x_adv, loss, misclassified): misclassified first, then loss."""
    x_b, loss_b, mis_b = best
    x_c, loss_c, mis_c = cand
    better = (mis_c & ~mis_b) | ((mis_c == mis_b) & (loss_c > loss_b))
    return (
        torch.where(_per_example(better, x_b), x_c, x_b),
        torch.where(better, loss_c, loss_b),
        mis_b | mis_c,
    )


def check_common(x: torch.Tensor, y: torch.Tensor, steps: int, restarts: int) -> None:
    if x.dim() < 2 or y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise UserError(
            f"attacks need x of shape [B, ...] and labels y of shape [B], got "
            f"{tuple(x.shape)} and {tuple(y.shape)}; pass a batch"
        )
    for name, value in (("steps", steps), ("restarts", restarts)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{name} must be an integer >= 1, got {value!r}; e.g. {name}=10")


def _ascend(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: Threat,
    x_adv: torch.Tensor,
    *,
    steps: int,
    step_size: Scalar,
    loss_fn: LossFn,
) -> torch.Tensor:
    """The hot loop: `steps` projected ascent steps from x_adv. No host-device syncs."""
    for _ in range(steps):
        x_adv.requires_grad_(True)
        # Sum, not mean: each example's gradient is then independent of the batch size.
        loss = loss_fn(model(x_adv), y).sum()
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = threat.project(x_adv.detach() + step_size * threat.ascent(grad), x)
    return x_adv


def run_pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: Threat,
    *,
    steps: int,
    step_size: Scalar,
    random_start: str,
    restarts: int,
    loss_fn: LossFn,
    generator: torch.Generator | None,
    model_mode: str,
    rows: Shard | None = None,
) -> torch.Tensor:
    """PGD without argument checks (fgsm uses it with α = ε, which may be 0)."""
    x = x.detach()
    threat = threat.to(x.device)  # one host-to-device copy of a tensor ε, outside the loop
    if isinstance(step_size, torch.Tensor):
        step_size = step_size.to(x.device)
    radius = {"step": step_size, "eps": threat.eps, "none": None}[random_start]
    if generator is None:
        # Deterministic default; pass your own generator for fresh noise on every call.
        generator = torch.Generator().manual_seed(0)
    best: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    with attack_mode(model, model_mode):
        for _ in range(restarts):
            start = x.clone() if radius is None else threat.random_init(x, radius, generator, rows)
            x_adv = _ascend(
                model, x, y, threat, start, steps=steps, step_size=step_size, loss_fn=loss_fn
            )
            if restarts == 1:
                return x_adv.detach()
            cand = (x_adv, *score(model, x_adv, y, loss_fn))
            best = cand if best is None else keep_worst(best, cand)
    assert best is not None  # restarts >= 1
    return best[0].detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: Threat,
    *,
    steps: int,
    step_size: Scalar,
    random_start: str = "step",
    restarts: int = 1,
    loss: str = "ce",
    generator: torch.Generator | None = None,
    model_mode: str = "eval",
    rows: Shard | None = None,
) -> torch.Tensor:
    """PGD-``steps`` with step ``step_size`` (float or 0-dim tensor); returns x_adv detached.

    `rows`: x is these rows of a larger batch (a data-parallel rank's share); the random
    start is then the one the whole batch would get (`Threat.random_init`)."""
    check_common(x, y, steps, restarts)
    check_scalar("step_size", step_size, positive=True, hint="e.g. step_size=eps/4")
    if random_start not in RANDOM_STARTS:
        raise UserError(
            f"unknown random_start '{random_start}'; use one of {', '.join(RANDOM_STARTS)}"
        )
    return run_pgd(
        model,
        x,
        y,
        threat,
        steps=steps,
        step_size=step_size,
        random_start=random_start,
        restarts=restarts,
        loss_fn=get_loss(loss),
        generator=generator,
        model_mode=model_mode,
        rows=rows,
    )
