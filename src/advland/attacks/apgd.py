"""Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness…", Alg. 1).

Budget-aware PGD without a step-size parameter:
- step size η starts at 2ε (per example) and is halved at checkpoints w_j when either
  (1) fewer than ρ·(w_j − w_{j−1}) of the steps since w_{j−1} increased the loss, or
  (2) η was not reduced at w_{j−1} and the best loss has not improved since then;
  after a halving the iterate restarts from the best point x_max found so far;
- checkpoints w_j = ⌈p_j N⌉ with p_0 = 0, p_1 = 0.22,
  p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06) (the authors' integer form);
- momentum: z = Π(x_k + η·ascent(∇)), x_{k+1} = Π(x_k + α(z − x_k) + (1 − α)(x_k − x_{k−1}))
  with α = 0.75 (α = 1 on the first step);
- the random start is a point at distance ε from x (as in the authors' code).
Per example the returned point is the worst over all iterates and restarts: a misclassifying
point if one was found, else the highest loss (as PGD's restarts). Losses: "ce" or "dlr".
Everything is per example and branch-free, so the loop has no host-device syncs.
"""

from __future__ import annotations

import torch
from torch import nn

from advland.attacks.losses import LossFn, get_loss
from advland.attacks.pgd import attack_mode, check_common, keep_worst
from advland.attacks.threat import Threat, l2_norm
from advland.distributed import Shard
from advland.errors import UserError

MOMENTUM = 0.75


def checkpoints(steps: int) -> list[int]:
    """Iteration counts after which the step size is checked (integer form of the p_j)."""
    interval = max(int(0.22 * steps), 1)
    shrink, minimum = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    points, t = [], interval
    while t < steps:
        points.append(t)
        interval = max(interval - shrink, minimum)
        t += interval
    return points


def _start(
    threat: Threat, x: torch.Tensor, generator: torch.Generator, rows: Shard | None = None
) -> torch.Tensor:
    """x + ε·t/‖t‖ with t uniform in [−1,1]^d (ℓ∞) or Gaussian (ℓ2), drawn on the generator
    (for the whole batch when x is a rank's `rows` of it, keeping these rows)."""
    dtype = x.dtype if x.dtype == torch.float64 else torch.float32
    shape = x.shape if rows is None else (rows.total, *x.shape[1:])
    if threat.norm == "linf":
        t = 2 * torch.rand(shape, generator=generator, dtype=dtype, device=generator.device) - 1
        t = t if rows is None else rows.take(t)
        size = t.flatten(1).abs().amax(dim=1).view(-1, *([1] * (x.dim() - 1)))
    else:
        t = torch.randn(shape, generator=generator, dtype=dtype, device=generator.device)
        t = t if rows is None else rows.take(t)
        size = l2_norm(t)
    t = (t / size.clamp_min(1e-12)).to(x.device, x.dtype)
    return threat.project(x + threat.eps * t, x)


def _loss_and_grad(
    model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-example loss, misclassified flags and input gradient at x_adv."""
    x_adv = x_adv.detach().requires_grad_(True)
    logits = model(x_adv)
    loss = loss_fn(logits, y)
    (grad,) = torch.autograd.grad(loss.sum(), x_adv)
    loss = loss.detach().to(torch.promote_types(loss.dtype, torch.float32))
    return loss, logits.detach().argmax(1) != y, grad


def _run(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: Threat,
    *,
    steps: int,
    rho: float,
    loss_fn: LossFn,
    generator: torch.Generator,
    rows: Shard | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One APGD run; returns the per-example worst (x_adv, loss, misclassified)."""
    checks = set(checkpoints(steps))
    per_ex = (-1, *([1] * (x.dim() - 1)))
    x_cur = _start(threat, x, generator, rows)
    loss_cur, mis, grad = _loss_and_grad(model, x_cur, y, loss_fn)
    x_prev = x_cur
    eta = (2 * threat.eps * torch.ones(x.shape[0], device=x.device, dtype=x.dtype)).view(per_ex)
    x_max, loss_max, grad_max = x_cur, loss_cur, grad  # best point by loss: restart target
    worst = (x_cur, loss_cur, mis)  # best point by (misclassified, loss): the output
    n_up = torch.zeros_like(loss_cur)  # loss increases since the last checkpoint
    loss_max_at_check = loss_max
    # The authors' code starts with "reduced" set, so condition (2) cannot fire at w_1.
    reduced = torch.ones_like(mis)
    last_check = 0
    for i in range(steps):
        # Momentum step (plain projected step on the first iteration).
        a = 1.0 if i == 0 else MOMENTUM
        z = threat.project(x_cur + eta * threat.ascent(grad), x)
        x_next = threat.project(x_cur + a * (z - x_cur) + (1 - a) * (x_cur - x_prev), x)
        x_prev, x_cur = x_cur, x_next
        loss_new, mis, grad = _loss_and_grad(model, x_cur, y, loss_fn)
        n_up += (loss_new > loss_cur).to(n_up.dtype)
        loss_cur = loss_new
        # Keep the best point by loss (momentum restarts from it) and the worst case.
        up = loss_cur > loss_max
        x_max = torch.where(up.view(per_ex), x_cur, x_max)
        grad_max = torch.where(up.view(per_ex), grad, grad_max)
        loss_max = torch.where(up, loss_cur, loss_max)
        worst = keep_worst(worst, (x_cur, loss_cur, mis))
        if i + 1 not in checks:
            continue
        # Checkpoint: halve η where progress stalled and restart there from x_max.
        oscillating = n_up < rho * (i + 1 - last_check)
        stalled = ~reduced & (loss_max <= loss_max_at_check)
        reduced = oscillating | stalled
        eta = torch.where(reduced.view(per_ex), eta / 2, eta)
        x_cur = torch.where(reduced.view(per_ex), x_max, x_cur)
        grad = torch.where(reduced.view(per_ex), grad_max, grad)
        loss_cur = torch.where(reduced, loss_max, loss_cur)
        n_up.zero_()
        loss_max_at_check = loss_max
        last_check = i + 1
    return worst


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: Threat,
    *,
    steps: int = 100,
    loss: str = "ce",
    restarts: int = 1,
    rho: float = 0.75,
    generator: torch.Generator | None = None,
    model_mode: str = "eval",
    rows: Shard | None = None,
) -> torch.Tensor:
    """APGD-CE (loss="ce") or APGD-DLR (loss="dlr"); returns x_adv detached. `rows`: x is
    a data-parallel rank's rows of a batch; starts are those of the whole batch."""
    check_common(x, y, steps, restarts)
    if not 0 < rho <= 1:
        raise UserError(f"rho must be in (0, 1], got {rho}; the paper uses rho=0.75")
    loss_fn = get_loss(loss)
    x = x.detach()
    threat = threat.to(x.device)  # one host-to-device copy of a tensor ε, outside the loop
    if generator is None:
        # Deterministic default; pass your own generator for fresh noise on every call.
        generator = torch.Generator().manual_seed(0)
    best: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    with attack_mode(model, model_mode):
        for _ in range(restarts):
            cand = _run(
                model,
                x,
                y,
                threat,
                steps=steps,
                rho=rho,
                loss_fn=loss_fn,
                generator=generator,
                rows=rows,
            )
            best = cand if best is None else keep_worst(best, cand)
    assert best is not None  # restarts >= 1 (check_common)
    return best[0].detach()
