"""Square Attack (Andriushchenko et al. 2020): score-based, gradient-free, ℓ∞ and ℓ2.

Random search on the margin loss z_y − max_{i≠y} z_i (minimised; a point is broken once it
is ≤ 0). Each query changes one square window of side s = round(√(p·h·w)) (at least 1 for
ℓ∞, at least 3 and odd for ℓ2) and keeps the change where the margin decreased or the point
became misclassified. p follows the published piecewise-constant schedule from
`p_init` (0.8 for ℓ∞ in AutoAttack's standard version), halved after query 10, 50, 200,
500, 1000, 2000, 4000, 6000 and 8000. AutoAttack's standard version keeps these query
numbers at its 5,000-query budget (the default here, `rescale=False`); `rescale=True`
stretches them over `queries` as if the budget were 10,000.

- ℓ∞: start from vertical stripes ±ε; a query sets the window to a fresh ±ε per channel.
- ℓ2: start from a grid of centred "meta" blocks (nested squares of weight 1/k², opposite
  signs in the two halves); a query moves the ℓ2 mass of two windows into one new such
  block, and the whole perturbation is rescaled to the sphere of radius ε.

All examples move together (one window position per query, per-example signs): every query
is one batched forward pass and there is no Python loop over examples. Only the points not
yet broken are queried. The model is never differentiated (everything runs under
`torch.no_grad`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from advland.attacks.pgd import attack_mode, check_common
from advland.attacks.threat import Threat, l2_norm

P_INIT = {"linf": 0.8, "l2": 0.8}
HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_schedule(p_init: float, query: int, queries: int, rescale: bool = False) -> float:
    """The published schedule of the window share p at `query` of `queries`."""
    it = int(query / queries * 10000) if rescale else query
    return p_init / 2 ** sum(it > h for h in HALVINGS)


def _margin(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(x)
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], -torch.inf).amax(dim=1)
    return (z_y - others).float()


class _Search:
    """The per-example state of the random search and one batched query."""

    def __init__(self, model, x, y, threat, generator):
        self.model, self.x, self.y, self.threat, self.gen = model, x, y, threat, generator
        self.eps = float(threat.eps)

    def signs(self, shape) -> torch.Tensor:
        u = torch.rand(shape, generator=self.gen, device=self.gen.device)
        return (2 * (u > 0.5).float() - 1).to(self.x.device, self.x.dtype)

    def randint(self, high: int) -> int:
        return int(torch.randint(0, high + 1, (1,), generator=self.gen, device=self.gen.device))

    def init(self) -> torch.Tensor:
        b, c, _, w = self.x.shape
        if self.threat.norm == "linf":
            return (self.x + self.eps * self.signs((b, c, 1, w))).clamp(0, 1)
        return self._l2_init()

    def propose(self, x_best: torch.Tensor, idx: torch.Tensor, p: float) -> torch.Tensor:
        x, xb = self.x[idx], x_best[idx]
        if self.threat.norm == "linf":
            return self._linf_step(x, xb, p)
        return self._l2_step(x, xb, p)

    def _linf_step(self, x, xb, p):
        n, c, h, w = x.shape
        s = min(max(round(math.sqrt(p * h * w)), 1), h, w)
        vh, vw = self.randint(h - s), self.randint(w - s)
        new = xb.clone()
        window = x[:, :, vh : vh + s, vw : vw + s] + self.eps * self.signs((n, c, 1, 1))
        new[:, :, vh : vh + s, vw : vw + s] = window
        return self.threat.project(new, x)

    def _l2_init(self) -> torch.Tensor:
        b, c, h, w = self.x.shape
        s = max(h // 5, 1)
        delta = torch.zeros_like(self.x)
        start = (h - 5 * s) // 2
        for vh in range(start, start + 5 * s, s):
            for vw in range(start, start + 5 * s, s):
                if vh + s <= h and vw + s <= w:
                    block = _meta(s, self).view(1, 1, s, s) * self.signs((b, c, 1, 1))
                    delta[:, :, vh : vh + s, vw : vw + s] += block
        return (self.x + self.eps * delta / l2_norm(delta).clamp_min(1e-12)).clamp(0, 1)

    def _l2_step(self, x, xb, p):
        n, c, h, w = x.shape
        s = max(round(math.sqrt(p * h * w)), 3)
        s = min(s + 1 - s % 2, h - (1 - h % 2), w - (1 - w % 2))
        vh, vw, vh2, vw2 = (self.randint(d - s) for d in (h, w, h, w))
        delta = xb - x
        win = (slice(None), slice(None), slice(vh, vh + s), slice(vw, vw + s))
        win2 = (slice(None), slice(None), slice(vh2, vh2 + s), slice(vw2, vw2 + s))
        mask = torch.zeros_like(x)
        mask[win], mask[win2] = 1.0, 1.0
        norm_image, norm_windows = l2_norm(delta), l2_norm(delta * mask)
        old = delta[win] / (delta[win].pow(2).sum(dim=(-2, -1), keepdim=True).sqrt() + 1e-12)
        new = _meta(s, self).view(1, 1, s, s) * self.signs((n, c, 1, 1)) + old
        room = ((self.eps**2 - norm_image**2).clamp_min(0) / c + norm_windows**2).sqrt()
        new = new / (new.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt() + 1e-12) * room
        delta = delta.clone()
        delta[win2] = 0.0
        delta[win] = new
        return (x + self.eps * delta / l2_norm(delta).clamp_min(1e-12)).clamp(0, 1)


def _rectangles(a: int, b: int, device) -> torch.Tensor:
    """Nested centred rectangles on an a×b grid: ring k (Chebyshev radius k around the
    centre cell) adds 1/(k+1)², so weights fall off from the centre; unit ℓ2 norm."""
    r = (torch.arange(a, device=device)[:, None] - a // 2).abs()
    q = (torch.arange(b, device=device)[None, :] - b // 2).abs()
    d = torch.maximum(r, q)
    ring = torch.arange(max(a // 2 + 1, b // 2 + 1), device=device).view(-1, 1, 1)
    delta = ((ring >= d) / (ring + 1.0) ** 2).sum(0)
    return delta / delta.pow(2).sum().sqrt()


def _meta(s: int, search: _Search) -> torch.Tensor:
    """The s×s block: +rectangles on the top half, − on the bottom, randomly transposed."""
    device = search.x.device
    top, bottom = _rectangles(s // 2, s, device), _rectangles(s - s // 2, s, device)
    delta = torch.cat([top, -bottom]).to(search.x.dtype)
    delta = delta / delta.pow(2).sum().sqrt()
    if search.randint(1) == 1:
        delta = delta.t()
    return delta


def square(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: Threat,
    *,
    queries: int = 5000,
    p_init: float | None = None,
    rescale: bool = False,
    generator: torch.Generator | None = None,
    model_mode: str = "eval",
) -> torch.Tensor:
    """Square Attack; returns x_adv detached (the lowest-margin point found per example)."""
    check_common(x, y, queries, 1)
    if x.dim() != 4:
        from advland.errors import UserError

        raise UserError(f"Square needs images [B, C, H, W], got {tuple(x.shape)}")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    p0 = P_INIT[threat.norm] if p_init is None else p_init
    x = x.detach()
    with attack_mode(model, model_mode), torch.no_grad():
        search = _Search(model, x, y, threat.to(x.device), generator)
        if float(threat.eps) == 0:
            return x.clone()
        x_best = search.init()
        margin = _margin(model, x_best, y)
        for q in range(queries - 1):  # the start costs one query
            idx = (margin > 0).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            x_new = search.propose(x_best, idx, p_schedule(p0, q, queries, rescale))
            m_new = _margin(model, x_new, y[idx])
            better = m_new < margin[idx]
            margin[idx] = torch.where(better, m_new, margin[idx])
            x_best[idx] = torch.where(better.view(-1, 1, 1, 1), x_new, x_best[idx])
    return x_best.detach()
