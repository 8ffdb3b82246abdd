"""The 1-D sketch of Fig. 5 (App. A.2), the gradient-gap bound of eq. 3 and Theorem 2 (eq. 4).

g(x, theta) = log(1 + exp(theta x)); its worst case over |x' - x| <= eps is attained at
x' = x + eps sign(theta), so g_eps(x, theta) = log(1 + exp(theta x + eps |theta|)). Its
derivative sigma(theta x + eps |theta|) (x + eps sign theta) jumps at theta = 0 from
(x - eps)/2 to (x + eps)/2: a kink of size 2 eps sigma(0) = eps that grows with the budget
(the "gradient scattering" of Sec. 3.2), within eq. 3's bound 2 eps L_theta_x.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from advland.errors import UserError


def sketch_loss(theta: torch.Tensor, x: float = 1.0) -> torch.Tensor:
    """Vanilla g(x, theta) = log(1 + exp(theta x))."""
    return F.softplus(theta * x)


def sketch_band(theta: torch.Tensor, x: float, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(min, max) of g(x', theta) over |x' - x| <= eps: the light-blue band of Fig. 5."""
    _check_eps(eps)
    return F.softplus(theta * x - eps * theta.abs()), F.softplus(theta * x + eps * theta.abs())


def sketch_adv_loss(theta: torch.Tensor, x: float, eps: float) -> torch.Tensor:
    """g_eps(x, theta) = log(1 + exp(theta x + eps |theta|)) (the upper edge of the band)."""
    return sketch_band(theta, x, eps)[1]


def sketch_adv_grad(theta: torch.Tensor, x: float, eps: float, side: float = 1.0) -> torch.Tensor:
    """d g_eps / d theta; at theta = 0 the one-sided derivative from `side` (+1 right, -1 left)."""
    _check_eps(eps)
    s = torch.where(theta == 0, torch.full_like(theta, math.copysign(1.0, side)), theta.sign())
    return torch.sigmoid(theta * x + eps * theta.abs()) * (x + eps * s)


def sketch_jump(x: float, eps: float) -> float:
    """Right minus left derivative of g_eps at the kink theta = 0 (measured from the formula)."""
    zero = torch.zeros((), dtype=torch.float64)
    return float(sketch_adv_grad(zero, x, eps, +1.0) - sketch_adv_grad(zero, x, eps, -1.0))


def sketch_jump_analytic(eps: float) -> float:
    """2 eps sigma(0) = eps, independent of x."""
    _check_eps(eps)
    return 2.0 * eps * (1.0 / (1.0 + math.exp(0.0)))


def sketch_lipschitz_theta_x() -> float:
    """L_theta_x of Assumption 1 for the sketch: sup_u |d/dx (x sigma(theta x))| with
    u = theta x, i.e. sup_u |sigma(u) + u sigma'(u)| (~1.0998 at u ~ 2.4)."""
    u = torch.linspace(-20.0, 20.0, 400_001, dtype=torch.float64)
    s = torch.sigmoid(u)
    return float((s + u * s * (1 - s)).abs().max())


def gradient_gap_bound(
    eps: float, L_theta_x: float, L_theta_theta: float = 0.0, dist: float = 0.0
) -> float:
    """Eq. 3: ||grad L_eps(theta1) - grad L_eps(theta2)|| <= L_tt ||theta1 - theta2|| + 2 eps L_tx."""
    _check_eps(eps)
    return L_theta_theta * dist + 2.0 * eps * L_theta_x


def theorem2_bound(gamma):
    """Eq. 4: P(||grad L_eps(theta_t)|| > gamma eps L_theta_x) < 4 / (gamma^2 - 2 gamma + 4), gamma >= 2.

    Accepts a float or a tensor (elementwise)."""
    g = torch.as_tensor(gamma, dtype=torch.float64)
    if not bool(torch.isfinite(g).all()) or bool((g < 2).any()):
        raise UserError(f"Theorem 2 needs a finite gamma >= 2, got {gamma}; pass gamma >= 2")
    out = 4.0 / (g * g - 2.0 * g + 4.0)
    return float(out) if out.dim() == 0 and not isinstance(gamma, torch.Tensor) else out


def sketch_sgd_grad_norms(
    xs: torch.Tensor, eps_grid, steps: int, generator: torch.Generator, theta0: float = 1.0
) -> torch.Tensor:
    """SGD on L_eps(theta) = mean_i g_eps(x_i, theta), one run per eps (same sampled x_i),
    with Theorem 2's step 1/(L_tt sqrt(T)); returns |grad L_eps(theta_t)| (full batch),
    shape (len(eps_grid), steps)."""
    eps = torch.as_tensor(eps_grid, dtype=xs.dtype, device=xs.device)
    if bool((eps < 0).any()):
        raise UserError(f"eps must be >= 0, got {eps.tolist()}; pass non-negative budgets")
    L_tt = float((xs**2).max()) / 4.0  # sup |d^2 g / d theta^2| = x^2 sigma' <= x^2 / 4
    alpha = 1.0 / (L_tt * math.sqrt(steps))
    idx = torch.randint(len(xs), (steps,), generator=generator).to(xs.device)
    theta = torch.full_like(eps, theta0)
    norms = torch.empty(len(eps), steps, dtype=xs.dtype, device=xs.device)
    for t in range(steps):
        # subgradient at the kink: sign(0) = 0, i.e. the mean of both one-sided derivatives
        norms[:, t] = _grad_sign0(theta[:, None], xs[None, :], eps[:, None]).mean(-1).abs()
        theta = theta - alpha * _grad_sign0(theta, xs[idx[t]], eps)
    return norms


def _grad_sign0(theta: torch.Tensor, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(theta * x + eps * theta.abs()) * (x + eps * theta.sign())


def _check_eps(eps: float) -> None:
    if not eps >= 0:
        raise UserError(f"eps must be >= 0, got {eps}; pass a non-negative budget")
