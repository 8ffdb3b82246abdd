"""Targeted FAB (Croce & Hein 2020, "Minimally distorted adversarial examples with a fast
adaptive boundary attack"), as AutoAttack's FAB-T runs it: 9 targets, 100 iterations.

FAB looks for the adversarial point of smallest norm. Per iteration, with
f(z) = z_y(z) − z_t(z) linearised at the current iterate x_k,

- d_k = the smallest step from x_k onto the hyperplane f(x_k) + ∇f·(z − x_k) = 0 within
  the [0,1] box, and d_0 the same from the original point x;
- α = min(‖d_k‖ / (‖d_k‖ + ‖d_0‖), α_max) biases the step towards x (α_max = 0.1);
- x_{k+1} = clip((x_k + η d_k)(1 − α) + (x + η d_0) α) with overshoot η = 1.05;
- when x_{k+1} is misclassified it becomes the best point if closer to x than the best so
  far, and the iterate moves back towards x: x_{k+1} ← x + β (x_{k+1} − x), β = 0.9.

The projection onto a hyperplane intersected with the box is solved by bisection on a
scalar (the ℓ∞ radius, or the ℓ2 multiplier of the clipped gradient), vectorised over the
batch. The first run starts at x; further restarts start uniformly in the ε/2-ball. The
attack counts only if the smallest adversarial point found lies inside the ε-ball: points
where it does not are returned unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from advland.attacks.apgd_t import target_classes
from advland.attacks.pgd import attack_mode, check_common
from advland.attacks.threat import Threat
from advland.errors import UserError

TARGETS = 9
ALPHA_MAX, ETA, BETA = 0.1, 1.05, 0.9
BISECT = 30


def _norm(v: torch.Tensor, norm: str) -> torch.Tensor:
    v = v.flatten(1)
    return v.abs().amax(dim=1) if norm == "linf" else v.norm(dim=1)


def project_hyperplane(
    p: torch.Tensor, w: torch.Tensor, c: torch.Tensor, norm: str
) -> torch.Tensor:
    """Smallest d (ℓ∞ or ℓ2) with w·d = c and p + d ∈ [0,1], rows of [B, D]; the closest
    feasible d (the whole box in w's direction) when the hyperplane misses the box.

    The reach Σ|w_i|·min(room_i, r) is monotone in the scalar r, so r is bisected; |w|, the
    room and one work buffer are computed once, and each bisection step is two in-place
    passes over [B, D] (this projection is most of FAB's cost beside the model)."""
    flip = (c < 0)[:, None]  # move along −w instead, so that the target c is ≥ 0
    c = c.abs()
    aw = w.abs()
    up = torch.where((w > 0) ^ flip, 1 - p, p)  # room per coordinate in the move's direction
    sgn = torch.where(flip, -torch.sign(w), torch.sign(w))
    buf = torch.empty_like(up)
    if norm == "linf":
        lo, hi = torch.zeros_like(c), torch.ones_like(c)
        for _ in range(BISECT):
            r = (lo + hi) / 2
            below = torch.minimum(up, r[:, None], out=buf).mul_(aw).sum(1) < c
            lo, hi = torch.where(below, r, lo), torch.where(below, hi, r)
        return sgn * torch.minimum(up, hi[:, None])
    # ℓ2: d = clip(λ|w|, 0, room) along sign(w); bisect λ on a log scale.
    base = (c / w.pow(2).sum(1).clamp_min(1e-30)).clamp_min(1e-30).log()
    lo, hi = base, base + 40.0
    for _ in range(BISECT + 10):
        m = (lo + hi) / 2
        torch.mul(m.exp()[:, None], aw, out=buf)
        below = torch.minimum(up, buf, out=buf).mul_(aw).sum(1) < c
        lo, hi = torch.where(below, m, lo), torch.where(below, hi, m)
    return sgn * torch.minimum(up, hi.exp()[:, None] * aw)


def _f_and_grad(model, x1, y, t):
    x1 = x1.detach().requires_grad_(True)
    logits = model(x1)
    f = logits.gather(1, y[:, None]).squeeze(1) - logits.gather(1, t[:, None]).squeeze(1)
    (g,) = torch.autograd.grad(f.sum(), x1)
    return f.detach(), g.flatten(1)


def _single(model, x, y, t, threat: Threat, *, start: torch.Tensor, steps: int):
    """One FAB-T run on flat rows; -> (closest adversarial point, its norm; inf if none)."""
    shape, norm = x.shape, threat.norm
    x0 = x.flatten(1)
    x1 = start.flatten(1)
    best, best_norm = x0.clone(), torch.full((x0.shape[0],), torch.inf, device=x.device)
    for _ in range(steps):
        f, g = _f_and_grad(model, x1.view(shape), y, t)
        # Hyperplane f + g·(z − x1) = 0 from p: g·d = −(f + g·(p − x1)).
        both = project_hyperplane(
            torch.cat([x1, x0]),
            torch.cat([g, g]),
            torch.cat([-f, -(f + (g * (x0 - x1)).sum(1))]),
            norm,
        )
        d1, d0 = both[: x0.shape[0]], both[x0.shape[0] :]
        a1, a0 = _norm(d1, norm), _norm(d0, norm)
        alpha = (a1 / (a1 + a0 + 1e-12)).clamp(0, ALPHA_MAX)[:, None]
        x1 = ((x1 + ETA * d1) * (1 - alpha) + (x0 + ETA * d0) * alpha).clamp(0, 1)
        with torch.no_grad():
            adv = model(x1.view(shape)).argmax(1) != y
        dist = _norm(x1 - x0, norm)
        closer = adv & (dist < best_norm)
        best = torch.where(closer[:, None], x1, best)
        best_norm = torch.where(closer, dist, best_norm)
        x1 = torch.where(adv[:, None], x0 + BETA * (x1 - x0), x1)
    return best.view(shape), best_norm


def fab_t(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: Threat,
    *,
    steps: int = 100,
    targets: int = TARGETS,
    restarts: int = 1,
    generator: torch.Generator | None = None,
    model_mode: str = "eval",
) -> torch.Tensor:
    """FAB-T: per example the closest adversarial point over the targets if it lies in the
    ε-ball, else x; detached."""
    check_common(x, y, steps, restarts)
    if targets < 1:
        raise UserError(f"targets must be >= 1, got {targets}; AutoAttack uses 9")
    x = x.detach()
    threat = threat.to(x.device)
    eps = float(threat.eps)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    out = x.clone()
    done = torch.zeros_like(y, dtype=torch.bool)
    with attack_mode(model, model_mode):
        classes = target_classes(model, x, targets)
        for k in range(classes.shape[1]):
            for r in range(restarts):
                idx = (~done).nonzero().squeeze(1)
                if idx.numel() == 0:
                    return out
                xi = x[idx]
                start = xi if r == 0 else threat.random_init(xi, eps / 2, generator)
                adv, dist = _single(
                    model, xi, y[idx], classes[idx, k], threat, start=start, steps=steps
                )
                hit = dist <= eps
                out[idx[hit]] = threat.project(adv[hit], xi[hit])
                done[idx[hit]] = True
    return out
