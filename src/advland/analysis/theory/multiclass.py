"""Multi-class linear models f(x) = W^T x under an l_inf budget (paper Sec. 3.1, App. B.1).

W has shape (..., m, K) (leading dims batch several models, e.g. one per eps of a grid),
x has shape (N, m), labels y in [K]. The per-example loss is softmax cross-entropy,
g(x, W) = log sum_j exp((w_j - w_y)^T x).

What is exact and what is a bound (the inner max has no closed form for K >= 3):
- `exact_linf_adversarial`: g_eps is a log-sum-exp of affine functions of x', hence convex in
  x', so its maximum over the box ||x' - x||_inf <= eps is attained at one of the 2^m box
  vertices. Enumerating them is exact (feasible for m <= `max_dim`, default 16).
- `pgd_linf_adversarial`: projected sign-gradient ascent with random restarts; a lower bound
  (convex maximisation can stop at a non-optimal vertex). Use it when m is large.
- `bound13_lower`: the analytic lower bound of eq. 13 (one feasible x').
- `pairwise_upper_bound`: maximise every pair term separately; an upper bound, exact for K=2.
Training uses the exact maximiser and Danskin's theorem: x'(W)(softmax - e_y)^T is a
subgradient of g_eps at W. No [0, 1] box is applied (the paper's S_eps has none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from advland.analysis.theory.logistic import dual_exponent, norm_q, norm_q_grad
from advland.errors import UserError


def vertices(m: int, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """All 2^m sign vectors in {-1, +1}^m, shape (2^m, m)."""
    idx = torch.arange(2**m, device=device).unsqueeze(-1)
    bits = (idx >> torch.arange(m, device=device)) & 1
    return (2 * bits - 1).to(dtype)


def _eps(eps, W: torch.Tensor, extra: int) -> torch.Tensor:
    # eps (scalar or shaped like W's batch dims) viewed to broadcast against (..., *extra dims)
    e = torch.as_tensor(eps, dtype=W.dtype, device=W.device)
    if not bool((e >= 0).all()):  # host sync; also rejects NaN
        raise UserError(f"eps must be >= 0, got {e.tolist()}; pass a non-negative budget")
    return e.reshape(e.shape + (1,) * extra)


def _pick(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # z[..., i, k] -> z[..., i, y_i]
    return z.gather(-1, y.unsqueeze(-1).expand(*z.shape[:-1], 1)).squeeze(-1)


def ce_loss_per_example(x: torch.Tensor, y: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    z = x @ W
    return torch.logsumexp(z, -1) - _pick(z, y)


def exact_linf_adversarial(
    x: torch.Tensor, y: torch.Tensor, W: torch.Tensor, eps, max_dim: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact max over the l_inf box by vertex enumeration: (loss (..., N), x_adv (..., N, m))."""
    m = x.shape[-1]
    if m > max_dim:
        raise UserError(
            f"exact l_inf enumeration needs 2^{m} vertices (input dim {m} > max_dim={max_dim}); "
            "use pgd_linf_adversarial (lower bound) or lower the input dimension"
        )
    V = vertices(m, dtype=W.dtype, device=W.device)
    z = (x @ W).unsqueeze(-3) + _eps(eps, W, 3) * (V @ W).unsqueeze(-2)  # (..., 2^m, N, K)
    loss_v = torch.logsumexp(z, -1) - _pick(z, y)
    loss, best = loss_v.max(dim=-2)  # first maximiser on ties (all tie at W = 0)
    x_adv = x + _eps(eps, W, 2) * V[best]
    return loss, x_adv


def exact_linf_loss_and_grad(
    x: torch.Tensor, y: torch.Tensor, W: torch.Tensor, eps
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean exact adversarial loss and its Danskin subgradient x'^T (softmax - onehot) / N."""
    loss, x_adv = exact_linf_adversarial(x, y, W, eps)
    z = (x_adv.unsqueeze(-2) @ W.unsqueeze(-3)).squeeze(-2)  # (..., N, K)
    resid = torch.softmax(z, -1) - torch.nn.functional.one_hot(y, W.shape[-1]).to(W.dtype)
    grad = x_adv.transpose(-1, -2) @ resid / x.shape[0]
    return loss.mean(-1), grad


def pairwise_norms(W: torch.Tensor, q: float) -> torch.Tensor:
    """P[..., k, j] = ||w_j - w_k||_q, shape (..., K, K)."""
    cols = W.transpose(-1, -2)  # (..., K, m)
    return norm_q(cols.unsqueeze(-2) - cols.unsqueeze(-3), q)


def pairwise_upper_bound(x, y, W, eps, p: float = math.inf) -> torch.Tensor:
    """log sum_j exp((w_j - w_y)^T x + eps ||w_j - w_y||_q) >= g_eps (each pair at its own x')."""
    return torch.logsumexp(worst_pair_margins(x, y, W, eps, p), -1)


def _rows(P: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # P[..., y_i, :] for every example: (..., N, K)
    return P.index_select(-2, y)


def bound13_lower(x, y, W, eps, p: float = math.inf) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 13: the loss at x' = x + eps * dir(w_m - w_y), m = argmax_j ||w_j - w_y||_q."""
    q = dual_exponent(p)
    m_idx = _rows(pairwise_norms(W, q), y).argmax(-1)  # (..., N)
    cols = W.transpose(-1, -2)  # (..., K, m)
    d = _take(cols, m_idx) - _take(cols, y.expand_as(m_idx))
    x_adv = x + _eps(eps, W, 2) * norm_q_grad(d, q)  # ||dir||_p = 1 and d^T dir = ||d||_q
    z = (x_adv.unsqueeze(-2) @ W.unsqueeze(-3)).squeeze(-2)
    return torch.logsumexp(z, -1) - _pick(z, y), x_adv


def _take(cols: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    # cols (..., K, m), idx (..., N) -> (..., N, m)
    return cols.gather(-2, idx.unsqueeze(-1).expand(*idx.shape, cols.shape[-1]))


def eps_bar_bound(x, y, W, p: float = math.inf) -> torch.Tensor:
    """App. B.1: eps_bar(x, W) = (log(K-1) - (w_m - w_y)^T x) / ||w_m - w_y||_q per example.

    For this W, every eps >= eps_bar gives g_eps(x, W) >= log K (eq. 13 exceeds it). It
    depends on the scale of W (-> inf as W -> 0 when K >= 3), so it is not a threshold
    uniform over W. Where all columns of W coincide, g_eps = log K for every eps: 0 there.
    """
    K = W.shape[-1]
    q = dual_exponent(p)
    P = _rows(pairwise_norms(W, q), y)
    n_m, m_idx = P.max(-1)
    z = x @ W
    a_m = z.gather(-1, m_idx.unsqueeze(-1)).squeeze(-1) - _pick(z, y)
    return torch.where(n_m > 0, (math.log(K - 1) - a_m) / n_m.clamp_min(1e-300), 0.0)


def pgd_linf_adversarial(
    x, y, W, eps: float, *, steps: int = 50, restarts: int = 10, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sign-gradient ascent with uniform restarts in the box; a lower bound on g_eps."""
    W = W.detach()
    best_loss = torch.full(x.shape[:1], -math.inf, dtype=W.dtype, device=W.device)
    best_x = x.clone()
    for _ in range(restarts):
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        delta = (2 * u - 1) * eps
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = ce_loss_per_example(x + delta, y, W)
            (g,) = torch.autograd.grad(loss.sum(), delta)
            delta = (delta.detach() + 0.25 * eps * g.sign()).clamp(-eps, eps)
        with torch.no_grad():
            loss = ce_loss_per_example(x + delta, y, W)
            better = loss > best_loss
            best_loss = torch.where(better, loss, best_loss)
            best_x = torch.where(better.unsqueeze(-1), x + delta, best_x)
    return best_loss, best_x


def pair_terms(x, y, W, p: float = math.inf) -> tuple[torch.Tensor, torch.Tensor]:
    """((w_j - w_y)^T x_i, ||w_j - w_y||_q), each (..., N, K); eps enters only through their
    combination, so a grid of eps can reuse them."""
    z = x @ W
    return z - _pick(z, y).unsqueeze(-1), _rows(pairwise_norms(W, dual_exponent(p)), y)


def worst_pair_margins(x, y, W, eps, p: float = math.inf) -> torch.Tensor:
    """a[..., i, j] = max over the budget of (w_j - w_y)^T x' = (w_j - w_y)^T x + eps ||w_j - w_y||_q."""
    a0, n = pair_terms(x, y, W, p)
    return a0 + _eps(eps, W, 2) * n


def in_version_space(x, y, W, eps, p: float = math.inf) -> torch.Tensor:
    """Per-example membership of W in V_eps(x_i) (closed form, Sec. 3.1): (..., N) bool.

    (w_j - w_y)^T x' <= 0 for all x' in the budget and all j  <=>  max_j a[..., i, j] <= 0.
    """
    return (worst_pair_margins(x, y, W, eps, p) <= 0).all(-1)


def robustly_correct(x, y, W, eps, p: float = math.inf) -> torch.Tensor:
    """Every x' in the budget has y as its unique argmax (strict, unlike V_eps: W = 0 fails)."""
    a = worst_pair_margins(x, y, W, eps, p)
    a = a.scatter(-1, y.unsqueeze(-1).expand(*a.shape[:-1], 1), -math.inf)
    return (a < 0).all(-1)


def version_space_fractions(
    x: torch.Tensor, y: torch.Tensor, W_samples: torch.Tensor, eps_grid
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """For sampled W (S, m, K) and an increasing eps grid: the fraction of (W, x_i) pairs with
    W in V_eps(x_i), the fraction of W in V_eps of the whole dataset (all x_i), and whether
    membership is nested (W in V_eps2 => W in V_eps1 for eps1 < eps2, Proposition 1)."""
    a0, n = pair_terms(x, y, W_samples)  # membership: max_j a0 + eps n <= 0
    mem = torch.stack([(a0 + float(e) * n <= 0).all(-1) for e in eps_grid])  # (E, S, N)
    per_point = mem.to(x.dtype).mean((1, 2))
    dataset = mem.all(-1).to(x.dtype).mean(-1)
    return per_point, dataset, bool((~mem[1:] | mem[:-1]).all())


def exact_collapse_threshold(x: torch.Tensor, y: torch.Tensor, K: int) -> float:
    """Smallest eps with W = 0 a minimiser of the l_inf adversarial loss L_eps over the data.

    By convexity W = 0 is optimal iff the one-sided derivative of L_eps at 0 is >= 0 in every
    direction; with S_k = sum_{y_i = k} x_i and n_k = |{y_i = k}| that reads, by LP duality,
    "exists c with ||S_k - c||_inf <= eps n_k for all k". The l_inf condition splits by
    coordinate, and 1-D intervals share a point iff they meet pairwise (Helly), so
    eps* = max_d max_{a,b} |S_ad - S_bd| / (n_a + n_b) (for balanced classes: half the
    largest per-coordinate spread of the class means). Derived here, not in the paper.
    """
    onehot = torch.nn.functional.one_hot(y, K).to(x.dtype)
    S, n = onehot.T @ x, onehot.sum(0)  # (K, m), (K,)
    num = (S.unsqueeze(0) - S.unsqueeze(1)).abs()  # (K, K, m)
    den = (n.unsqueeze(0) + n.unsqueeze(1)).unsqueeze(-1)
    ratio = torch.where(den > 0, num / den.clamp_min(1), 0.0)
    return float(ratio.max())


def cluster_data(
    n_per_class: int, K: int, m: int, radius: float, noise: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """K Gaussian clusters with means evenly spaced on a circle in the first two coordinates;
    linearly separable without a bias term when noise << radius."""
    if K < 3 or m < 2:
        raise UserError(f"need K >= 3 classes and input dim m >= 2, got K={K}, m={m}")
    angle = 2 * math.pi * torch.arange(K, dtype=torch.float64) / K + math.pi / 2
    mean = torch.zeros(K, m, dtype=torch.float64)
    mean[:, 0], mean[:, 1] = radius * angle.cos(), radius * angle.sin()
    y = torch.arange(K).repeat_interleave(n_per_class)
    x = mean[y] + noise * torch.randn(K * n_per_class, m, generator=generator, dtype=torch.float64)
    return x, y


@dataclass(frozen=True)
class LinearTrainResult:
    eps: torch.Tensor  # (E,)
    W: torch.Tensor  # (E, m, K)
    loss: torch.Tensor  # (E,) final exact adversarial loss
    centered_norm: torch.Tensor  # (E,) ||W - mean column||_F (the part that changes f's argmax)
    robust_accuracy: torch.Tensor  # (E,) fraction with all of S_eps(x) classified correctly


def train_linear_adversarial(
    x: torch.Tensor,
    y: torch.Tensor,
    K: int,
    eps_grid,
    *,
    steps: int,
    lr: float,
    generator: torch.Generator,
    init_scale: float = 0.01,
) -> LinearTrainResult:
    """Full-batch subgradient descent on the exact l_inf adversarial loss, one model per eps
    (vectorised over the grid). The step size decays as a cosine to 0: the loss has a kink
    at the collapsed solution, where a constant step would keep it bouncing."""
    eps = torch.as_tensor(eps_grid, dtype=x.dtype, device=x.device)
    W = init_scale * torch.randn(len(eps), x.shape[1], K, generator=generator, dtype=x.dtype)
    W = W.to(x.device)
    for t in range(steps):
        _, grad = exact_linf_loss_and_grad(x, y, W, eps)
        W = W - lr * 0.5 * (1 + math.cos(math.pi * t / steps)) * grad
    loss, _ = exact_linf_loss_and_grad(x, y, W, eps)
    centered = W - W.mean(-1, keepdim=True)
    robust = robustly_correct(x, y, W, eps).to(x.dtype).mean(-1)
    return LinearTrainResult(eps, W, loss, centered.flatten(1).norm(dim=-1), robust)
