"""Binary logistic regression under an l_p budget: closed forms (paper eq. 6-7, App. A.1).

For labels y in {-1, +1}, weights w and bias b, the worst case over ||x' - x||_p <= eps of
log(1 + exp(-y (w^T x' + b))) is attained at x' = x - eps * y * grad||w||_q, giving

    g_eps(x, w) = log(1 + exp(-y (w^T x + b) + eps * ||w||_q)),   1/p + 1/q = 1   (eq. 6)

(Hoelder's inequality is tight there). The budget is the paper's S_eps^(p)(x) without the
[0, 1] box: the closed form is exact only for the unconstrained ball.

Subgradient convention (||w||_q is not differentiable everywhere), chosen to agree with
`torch.autograd` so the closed forms can be checked against it:
- q = 1 (p = inf): d||w||_1/dw_i = sign(w_i) with sign(0) = 0, the minimum-norm subgradient;
  the Hessian of ||w||_1 is 0 (piecewise linear);
- q = inf (p = 1): the subgradient is split equally between tied largest |w_i| (like
  `torch.amax`); Hessian 0;
- 1 < q < inf: the usual gradient; at w = 0 the subgradient 0 is used. For q < 2 the Hessian
  is unbounded at zero coordinates, so it raises there.
With this convention the worst-case x' leaves coordinates with w_i = 0 unperturbed (any
value is a maximiser there).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from advland.errors import UserError


def dual_exponent(p: float) -> float:
    """q with 1/p + 1/q = 1 (p = inf -> 1, p = 1 -> inf)."""
    p = float(p)
    if math.isnan(p) or p < 1:
        raise UserError(f"l_p exponent must be >= 1 (or inf), got {p}; use p=inf, 2 or 1")
    if math.isinf(p):
        return 1.0
    if p == 1.0:
        return math.inf
    return p / (p - 1.0)


def norm_q(w: torch.Tensor, q: float) -> torch.Tensor:
    """||w||_q over the last dimension."""
    # w * sign(w) instead of abs(): same values and (sub)gradient, but double backward of
    # abs() makes torch import its compiler stack (seconds) the first time
    a = w * torch.sign(w)
    if math.isinf(q):
        return a.amax(dim=-1)
    if q == 1.0:
        return a.sum(dim=-1)
    return a.pow(q).sum(dim=-1).pow(1.0 / q)


def norm_q_grad(w: torch.Tensor, q: float) -> torch.Tensor:
    """A subgradient of ||w||_q (convention in the module docstring); last dim is the vector."""
    if q == 1.0:
        return torch.sign(w)
    if math.isinf(q):
        a = w.abs()
        tied = (a == a.amax(dim=-1, keepdim=True)) & (a > 0)
        share = tied.to(w.dtype) / tied.sum(dim=-1, keepdim=True).clamp_min(1).to(w.dtype)
        return torch.sign(w) * share
    n = norm_q(w, q).unsqueeze(-1)
    g = torch.sign(w) * w.abs().pow(q - 1.0) / n.pow(q - 1.0)
    return torch.where(n > 0, g, torch.zeros_like(g))


def norm_q_hessian(w: torch.Tensor, q: float) -> torch.Tensor:
    """Hessian of ||w||_q for one vector w: (q-1)/n * (diag(|w|^(q-2)) n^(2-q) - g g^T)."""
    m = w.shape[-1]
    if q == 1.0 or math.isinf(q):
        return w.new_zeros(m, m)
    n = norm_q(w, q)
    if n == 0 or (q < 2 and bool((w == 0).any())):
        raise UserError(
            f"the Hessian of ||w||_q (q={q:g}) is unbounded at w with zero coordinates; "
            "evaluate it at a w with all coordinates non-zero"
        )
    g = norm_q_grad(w, q)
    return (q - 1.0) / n * (torch.diag(w.abs().pow(q - 2.0) * n.pow(2.0 - q)) - torch.outer(g, g))


def _check_labels(y: torch.Tensor) -> None:
    if not bool(((y == 1) | (y == -1)).all()):
        raise UserError("binary labels must be -1 or +1; map class 0 -> -1 and class 1 -> +1")


def _check_eps(eps: float) -> None:
    if not eps >= 0:
        raise UserError(f"eps must be >= 0, got {eps}; pass a non-negative budget")


def worst_case_perturbation(
    x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, eps: float, p: float
) -> torch.Tensor:
    """Exact maximiser x' of the logistic loss over ||x' - x||_p <= eps (p = inf: x - eps y sign w)."""
    _check_eps(eps)
    _check_labels(y)
    direction = norm_q_grad(w, dual_exponent(p))  # argmax of w^T d over ||d||_p <= 1
    return x - eps * y.to(x.dtype).unsqueeze(-1) * direction


def adversarial_margin(
    x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, eps: float, p: float, b: float = 0.0
) -> torch.Tensor:
    """z_i = -y_i (w^T x_i + b) + eps ||w||_q: the exponent of eq. 6, per example."""
    _check_eps(eps)
    _check_labels(y)
    return -y.to(x.dtype) * (x @ w + b) + eps * norm_q(w, dual_exponent(p))


def adversarial_loss_per_example(
    x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, eps: float, p: float, b: float = 0.0
) -> torch.Tensor:
    """g_eps(x_i, w) of eq. 6 (softplus keeps it stable for large margins)."""
    return F.softplus(adversarial_margin(x, y, w, eps, p, b))


def adversarial_loss(
    x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, eps: float, p: float, b: float = 0.0
) -> torch.Tensor:
    """L_eps(w) = mean_i g_eps(x_i, w) (eq. 6)."""
    return adversarial_loss_per_example(x, y, w, eps, p, b).mean()


def _margin_terms(x, y, w, eps, p, b, *, with_bias):
    # the margins z of eq. 6 and their Jacobian
    # dz_i/d(w[, b]) = -y_i [x_i, 1] + eps [grad||w||_q, 0]
    z = adversarial_margin(x, y, w, eps, p, b)
    q = dual_exponent(p)
    yx = y.to(x.dtype).unsqueeze(-1) * x
    jac = -yx + eps * norm_q_grad(w, q)
    if with_bias:
        jac = torch.cat([jac, -y.to(x.dtype).unsqueeze(-1)], dim=-1)
    return z, jac


def adversarial_loss_grad(
    x: Tensor, y: Tensor, w: Tensor, eps: float, p: float, b: float = 0, *, with_bias: bool = False
) -> Tensor:
    """Closed-form (sub)gradient of eq. 6 w.r.t. w, or w.r.t. [w, b] when `with_bias`."""
    z, jac = _margin_terms(x, y, w, eps, p, b, with_bias=with_bias)
    return (torch.sigmoid(z).unsqueeze(-1) * jac).mean(dim=0)


def adversarial_loss_hessian(
    x: Tensor, y: Tensor, w: Tensor, eps: float, p: float, b: float = 0, *, with_bias: bool = False
) -> Tensor:
    """Closed-form Hessian of eq. 6: mean sigma'(z) dz dz^T + sigma(z) eps Hess||w||_q."""
    z, jac = _margin_terms(x, y, w, eps, p, b, with_bias=with_bias)
    s = torch.sigmoid(z)
    curv = s * torch.sigmoid(-z)  # sigma'(z) without cancellation
    hess = (jac * curv.unsqueeze(-1)).T @ jac / x.shape[0]
    if eps > 0:
        hn = eps * s.mean() * norm_q_hessian(w, dual_exponent(p))
        m = w.shape[-1]
        hess[:m, :m] += hn
    return hess


def theorem3_loss(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """Eq. 7: eq. 6 with ||w||_q fixed to 1, i.e. mean log(1 + exp(-y w^T x + eps))."""
    _check_eps(eps)
    _check_labels(y)
    return F.softplus(-y.to(x.dtype) * (x @ w) + eps).mean()


def theorem3_hessian(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """Eq. 29: mean_i sigma'(y_i w^T x_i - eps) x_i x_i^T (the Hessian Theorem 3 is about)."""
    _check_eps(eps)
    _check_labels(y)
    u = y.to(x.dtype) * (x @ w) - eps
    curv = torch.sigmoid(u) * torch.sigmoid(-u)
    return (x * curv.unsqueeze(-1)).T @ x / x.shape[0]


def lp_sphere_2d(p: float, n_grid: int) -> torch.Tensor:
    """Points on the unit l_p sphere in 2-D: the 4 vertices for p in {1, inf}, else `n_grid`
    points by angle. For brute-force checks: the loss is monotone in w^T x', so its max over
    the ball lies on the sphere (on a vertex for p in {1, inf})."""
    if math.isinf(p):
        return torch.tensor([[1.0, 1], [1, -1], [-1, 1], [-1, -1]], dtype=torch.float64)
    if p == 1:
        return torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1]], dtype=torch.float64)
    phi = torch.linspace(0, 2 * math.pi, n_grid, dtype=torch.float64)
    u = torch.stack([phi.cos(), phi.sin()], -1)
    return u / norm_q(u, p).unsqueeze(-1)


def pgd_input_attack(
    x: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    eps: float,
    p: float,
    b: float = 0.0,
    *,
    steps: int = 50,
) -> torch.Tensor:
    """Numerical attack on the input (p = inf: sign steps + clamp; p = 2: normalised steps +
    projection); returns the per-example loss reached, a lower bound on eq. 6."""
    if not (math.isinf(p) or p == 2):
        raise UserError(f"pgd_input_attack supports p=inf or p=2, got p={p}")
    _check_eps(eps)
    yy = y.to(x.dtype)
    delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.softplus(-yy * ((x + delta) @ w + b)).sum(), delta)
        with torch.no_grad():
            if math.isinf(p):
                delta = (delta + 0.25 * eps * grad.sign()).clamp(-eps, eps)
            else:
                delta = delta + 0.25 * eps * grad / grad.norm(dim=-1, keepdim=True).clamp_min(
                    1e-300
                )
                delta = delta * (eps / delta.norm(dim=-1, keepdim=True).clamp_min(eps))
    return F.softplus(-yy * ((x + delta) @ w + b)).detach()


def separable_binary_data(
    n: int, m: int, eps_hat: float, p: float, generator: torch.Generator, gap: float = 0.05
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x, y, w_star): Gaussian points labelled by w_star with ||w_star||_q = 1 and
    y w_star^T x >= eps_hat + gap, so the data stay separable under S_{eps_hat}^(p)."""
    _check_eps(eps_hat)
    q = dual_exponent(p)
    w_star = torch.randn(m, generator=generator, dtype=torch.float64)
    w_star = w_star / norm_q(w_star, q)
    kept: list[torch.Tensor] = []
    while sum(len(k) for k in kept) < n:  # rejection sampling; a few rounds at most
        cand = torch.randn(4 * n, m, generator=generator, dtype=torch.float64) * (eps_hat + 1)
        kept.append(cand[(cand @ w_star).abs() >= eps_hat + gap])
    x = torch.cat(kept)[:n]
    y = torch.sign(x @ w_star)
    return x, y, w_star
