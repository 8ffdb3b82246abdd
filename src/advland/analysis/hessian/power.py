"""Power iteration with deflation — the paper's eigensolver (Liu et al. 2020 §4.2, after
Yao et al. 2018 / PyHessian).

Eigenpairs are found one after another. For pair i the iterate is orthogonalised against
the i eigenvectors already found at every step (deflation by projection: the operator is
untouched, the iterate is kept in their orthogonal complement), normalised, multiplied by
H, and the Rayleigh quotient λ = vᵀHv is taken as the estimate. The pair stops when the
relative change |λ_t − λ_{t−1}| / (|λ_{t−1}| + 1e-6) < tol (the reference code's test and
its 1e-6 floor) or after `max_iter` products (50 in the paper).

Power iteration converges to the eigenvalue of largest MAGNITUDE in the complement, so a
large negative eigenvalue can appear among the "top" k; results are sorted descending.
Convergence is linear with rate |λ_{i+1}/λ_i| and errors in earlier eigenvectors leak into
later ones through the deflation, which is why Lanczos (`lanczos.py`) is the default.
"""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from advland import distributed
from advland.analysis.hessian.eigen import (
    EigenResult,
    LinearOperator,
    canonical_signs_,
    orthogonalize_,
    random_start,
    sort_descending,
)
from advland.errors import UserError


def power_iteration(
    op: LinearOperator,
    k: int = 20,
    *,
    max_iter: int = 50,
    tol: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> EigenResult:
    """Top-k eigenpairs by power iteration with deflation (see module docstring).

    max_iter: products per eigenpair. Residuals are exact and free: ‖Hv − λv‖ uses the
    product of the last step, computed on exactly the returned v. `converged[i]` says
    whether pair i met the relative-change test before `max_iter`.
    """
    n = op.dim
    if not 1 <= k <= n:
        raise UserError(f"k must be in [1, {n}] (the operator size), got {k}")
    if max_iter < 2 or tol <= 0:
        raise UserError(f"need max_iter >= 2 and tol > 0, got {max_iter} and {tol}")
    start = time.perf_counter()
    found = torch.zeros(k, n, dtype=op.dtype, device=op.device)
    values = torch.zeros(k, dtype=torch.float64)
    residuals = torch.zeros(k, dtype=torch.float64)
    converged = torch.zeros(k, dtype=torch.bool)
    products = 0
    off = not (progress and distributed.is_main())  # one bar under torchrun: rank 0
    bar = tqdm(total=k, desc="power iteration", unit="pair", disable=off, leave=False)
    for i in range(k):
        pair = _one_pair(op, found[:i], max_iter=max_iter, tol=tol, generator=generator)
        found[i], values[i], residuals[i], converged[i] = pair[:4]
        products += pair[4]
        bar.update(1)
    bar.close()
    canonical_signs_(found)
    values, found, residuals, converged = sort_descending(values, found, residuals, converged)
    return EigenResult(
        method="power",
        eigenvalues=values,
        eigenvectors=found,
        residuals=residuals,
        converged=converged,
        num_hvps=products,
        residual_hvps=0,
        iterations=products,
        restarts=0,
        wall_time_s=time.perf_counter() - start,
        tol=tol,
        residual_kind="exact",
    )


def _one_pair(
    op: LinearOperator,
    found: torch.Tensor,
    *,
    max_iter: int,
    tol: float,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, float, float, bool, int]:
    """The next eigenpair in the orthogonal complement of the rows of `found`:
    (v, λ, ‖Hv − λv‖, converged, products)."""
    v = random_start(op.dim, op.dtype, op.device, generator)
    previous, converged, products = None, False, 0
    for _ in range(max_iter):
        orthogonalize_(found, v)
        v /= v.norm()
        hv = op.matvec(v)
        products += 1
        estimate = float(v @ hv)  # host sync once per product
        done = previous is not None and abs(estimate - previous) / (abs(previous) + 1e-6) < tol
        previous = estimate
        if done:
            converged = True
            break
        v, last = hv.clone(), v  # `last` is the vector the estimate belongs to
    else:
        v = last
    assert previous is not None  # max_iter >= 2: at least one product
    return v, previous, float((hv - previous * v).norm()), converged, products
