"""Thick-restart Lanczos with full reorthogonalisation (Wu & Simon 2000).

Each cycle extends an orthonormal basis V = [v_0 … v_{m-1}] of a Krylov space with one
operator product per vector; every new vector is orthogonalised against the WHOLE basis
(twice), so no spurious copies of converged eigenvalues appear — the price is O(m·n)
memory, m ≈ 2k–3k vectors. The projected matrix T = VᵀHV is eigendecomposed (Rayleigh–
Ritz); a Ritz pair (θ, y = Vs) is accepted when the residual estimate |β_m e_mᵀ s| — which
equals ‖Hy − θy‖ exactly in exact arithmetic — is ≤ tol·|θ|. Otherwise the basis is
compressed to the p best Ritz vectors plus the last Lanczos vector (a "thick" restart that
keeps everything learned about the wanted end of the spectrum) and extended again.

Compared with power iteration with deflation (the paper's method, `power.py`), the Krylov
space uses every product for all k pairs at once; the benchmark in
`benchmarks/bench_eigensolvers.py` measures the saving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from advland import distributed
from advland.analysis.hessian.eigen import (
    EigenResult,
    LinearOperator,
    canonical_signs_,
    measure_residuals,
    orthogonalize_,
    random_start,
    sort_descending,
)
from advland.errors import UserError

WHICH = ("LA", "SA", "LM")  # largest algebraic, smallest algebraic, largest magnitude


def _priority(theta: torch.Tensor, which: str) -> torch.Tensor:
    """Indices of Ritz values, most wanted first."""
    if which == "LA":
        return torch.argsort(theta, descending=True)
    if which == "SA":
        return torch.argsort(theta)
    return torch.argsort(theta.abs(), descending=True)


def _check_args(n: int, k: int, m: int, max_iter: int, tol: float, which: str) -> None:
    if not 1 <= k <= n:
        raise UserError(f"k must be in [1, {n}] (the operator size), got {k}")
    if which not in WHICH:
        raise UserError(f"which must be one of {WHICH}, got {which!r}")
    if tol <= 0:
        raise UserError(f"tol must be > 0, got {tol}; pass e.g. 1e-3")
    if not k < m <= n and not k == m == n:
        raise UserError(f"ncv must be in ({k}, {n}] (more than k basis vectors), got {m}")
    if max_iter < m:
        raise UserError(f"max_iter ({max_iter}) must be >= ncv ({m}); raise max_iter")


@dataclass
class _Krylov:
    """The Lanczos basis V (rows), the projected matrix T = VᵀHV, and the counters."""

    V: torch.Tensor
    T: torch.Tensor
    products: int = 0
    restarts: int = 0
    anorm: float = 0.0  # largest ‖Hv‖ seen, a lower bound on ‖H‖

    @classmethod
    def start(cls, op: LinearOperator, m: int, generator) -> _Krylov:
        """Room for m+1 basis vectors, the first a random unit vector."""
        n = op.dim
        V = torch.zeros(m + 1, n, dtype=op.dtype, device=op.device)
        T = torch.zeros(m, m, dtype=torch.float64)  # projected matrix, small: on the host
        V[0] = random_start(n, op.dtype, op.device, generator)
        return cls(V, T)


@dataclass(frozen=True)
class _Ritz:
    """Ritz values/vectors of T (in the basis), the wanted ones first, and their test."""

    theta: torch.Tensor
    S: torch.Tensor
    order: torch.Tensor
    top: torch.Tensor
    estimates: torch.Tensor
    converged: torch.Tensor


def lanczos(
    op: LinearOperator,
    k: int = 20,
    *,
    max_iter: int | None = None,
    tol: float = 1e-3,
    which: str = "LA",
    ncv: int | None = None,
    generator: torch.Generator | None = None,
    measure: bool = True,
    progress: bool = False,
) -> EigenResult:
    """Top-k eigenpairs of the symmetric operator `op` (largest algebraic by default).

    max_iter: total operator products allowed (default max(50·k, 2·ncv), the paper's
    power-iteration budget). tol: relative residual ‖Hy − θy‖ ≤ tol·|θ| per pair, with |θ|
    floored at √eps·‖T‖ so that (near-)zero eigenvalues can converge. ncv: basis size
    (default min(n, max(2k+1, k+32))). measure: re-measure each residual with one extra
    product, all k in one batched call when `op` has `matmat` (else the recurrence estimate
    is reported). `converged` is the solver's test on the estimate. `iterations` counts
    products; `restarts` counts thick restarts.
    """
    n = op.dim
    m = ncv if ncv is not None else min(n, max(2 * k + 1, k + 32))
    max_iter = max_iter if max_iter is not None else max(50 * k, 2 * m)
    _check_args(n, k, m, max_iter, tol, which)
    eps = torch.finfo(op.dtype).eps
    start = time.perf_counter()
    kry = _Krylov.start(op, m, generator)
    off = not (progress and distributed.is_main())  # one bar under torchrun: rank 0
    bar = tqdm(total=max_iter, desc="lanczos", unit="hvp", disable=off, leave=False)
    j0, done = 0, False
    while not done:
        for j in range(j0, m):
            beta, mm = _extend(op, kry, j, generator), j + 1
            bar.update(1)
            if mm <= k and mm < n:
                continue  # too few Ritz pairs yet (only in the first cycle)
            ritz = _rayleigh_ritz(kry.T[:mm, :mm], beta, k, which=which, tol=tol, eps=eps)
            done = bool(ritz.converged.all()) or kry.products >= max_iter or mm == n
            if done:
                break
        if not done:
            j0 = _thick_restart(kry, ritz, beta, k, mm)
    bar.close()
    (values, vectors, residuals, converged), extra = _pairs(op, kry.V[:mm], ritz, measure)
    return EigenResult(
        method="lanczos",
        eigenvalues=values,
        eigenvectors=vectors,
        residuals=residuals,
        converged=converged,
        num_hvps=kry.products,
        residual_hvps=extra,
        iterations=kry.products,
        restarts=kry.restarts,
        wall_time_s=time.perf_counter() - start,
        tol=tol,
        residual_kind="measured" if measure else "estimate",
    )


def _extend(op: LinearOperator, kry: _Krylov, j: int, generator) -> float:
    """One Lanczos step: V[j+1] from H·V[j] orthogonalised against the whole basis, the
    coefficients into T; returns β = ‖w‖ (0 at an invariant subspace)."""
    w = op.matvec(kry.V[j])
    kry.products += 1
    kry.anorm = max(kry.anorm, float(w.norm()))  # host sync once per product (cheap)
    h = orthogonalize_(kry.V[: j + 1], w).to("cpu", torch.float64)
    kry.T[: j + 1, j] = h
    kry.T[j, : j + 1] = h
    beta = float(w.norm())
    if beta <= 100 * torch.finfo(op.dtype).eps * kry.anorm:  # relative to ‖H‖
        # invariant subspace: continue from a fresh orthogonal direction
        kry.V[j + 1] = _fresh_direction(kry.V[: j + 1], op.dim, op, generator)
        return 0.0
    kry.V[j + 1] = w / beta
    return beta


def _rayleigh_ritz(
    T: torch.Tensor, beta: float, k: int, *, which: str, tol: float, eps: float
) -> _Ritz:
    """Ritz pairs of the projected matrix and the residual test of the k most wanted
    (`eps`: the operator's machine epsilon). Done after every product: an m×m eigh is
    negligible next to an HVP, and stopping at the first step where all k pairs pass
    saves products."""
    mm = T.shape[0]
    theta, S = torch.linalg.eigh(T)
    order = _priority(theta, which)
    top = order[:k]
    estimates = (beta * S[mm - 1, top]).abs()
    floor = eps**0.5 * float(theta.abs().max())
    converged = estimates <= tol * theta[top].abs().clamp_min(floor)
    return _Ritz(theta, S, order, top, estimates, converged)


def _thick_restart(kry: _Krylov, ritz: _Ritz, beta: float, k: int, mm: int) -> int:
    """Keep the p most wanted Ritz vectors + the residual direction v_m; returns p."""
    p = min(mm - 1, k + (mm - k) // 2)
    keep = ritz.order[:p]
    V, T = kry.V, kry.T
    S_keep = ritz.S[:, keep].to(device=V.device, dtype=V.dtype)
    V[:p] = S_keep.T @ V[:mm]
    V[p] = V[mm]
    T.zero_()
    T[:p, :p] = torch.diag(ritz.theta[keep])
    T[:p, p] = T[p, :p] = beta * ritz.S[mm - 1, keep]
    kry.restarts += 1
    return p


def _pairs(op: LinearOperator, V: torch.Tensor, ritz: _Ritz, measure: bool) -> tuple:
    """The wanted Ritz pairs as unit, sign-fixed eigenvectors with their residuals (one
    extra product each when `measure`), sorted by descending eigenvalue; and the number
    of extra products."""
    values = ritz.theta[ritz.top]
    vectors = ritz.S[:, ritz.top].T.to(device=op.device, dtype=op.dtype) @ V
    vectors /= vectors.norm(dim=1, keepdim=True)
    canonical_signs_(vectors)
    if measure:
        residuals, extra = measure_residuals(op, values, vectors)
    else:
        residuals, extra = ritz.estimates.clone(), 0
    return sort_descending(values, vectors, residuals, ritz.converged), extra


def _fresh_direction(
    basis: torch.Tensor, n: int, op: LinearOperator, generator: torch.Generator | None
) -> torch.Tensor:
    """A unit vector orthogonal to `basis` (zero when the basis already spans everything)."""
    if basis.shape[0] >= n:
        return torch.zeros(n, dtype=op.dtype, device=op.device)
    w = random_start(n, op.dtype, op.device, generator)
    orthogonalize_(basis, w)
    return w / w.norm()
