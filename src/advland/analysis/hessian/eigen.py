"""The result every eigensolver returns, and the helpers they share.

Solvers see a symmetric operator only through `matvec(flat) -> flat` plus `dim`, `dtype`
and `device` (`HessianOperator` and `DenseOperator` both qualify), in the spirit of
hessian-eigenthings' `CurvatureOperator`. `matvec` must return a new tensor: solvers
orthogonalise the product in place.

Eigenvectors are stored as one flat k×n tensor (row i = unit eigenvector i, in the layout
of `params.flatten`): one allocation, saved as-is to `.npz`, and `vector(i, like)` turns a
row back into a parameter vector (`params.Vec`) without copying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from advland.analysis.params import Vec, unflatten


class LinearOperator(Protocol):
    dim: int
    dtype: torch.dtype
    device: torch.device

    def matvec(self, flat: torch.Tensor) -> torch.Tensor: ...


class DenseOperator:
    """A symmetric matrix as an operator (tests, and sanity checks on small problems)."""

    def __init__(self, matrix: torch.Tensor) -> None:
        self.matrix = matrix
        self.dim = matrix.shape[0]
        self.dtype, self.device = matrix.dtype, matrix.device
        self.num_hvps = 0

    def matvec(self, flat: torch.Tensor) -> torch.Tensor:
        self.num_hvps += 1
        return self.matrix @ flat

    def matmat(self, block: torch.Tensor) -> torch.Tensor:
        self.num_hvps += block.shape[0]
        return block @ self.matrix  # rows H v (H symmetric)


@dataclass(frozen=True)
class EigenResult:
    """Eigenpairs of a symmetric operator, sorted by descending eigenvalue.

    residuals: ‖H v_i − λ_i v_i‖ per pair. `residual_kind` says how it was obtained:
    "measured" = one extra product per pair after the solver finished (counted in
    `residual_hvps`, not in `num_hvps`); "exact" = from a product the solver computed on
    exactly that vector anyway (power iteration's last step; no extra cost).
    converged: the solver's own stopping test per pair (see each solver's docstring).
    """

    method: str
    eigenvalues: torch.Tensor  # (k,)
    eigenvectors: torch.Tensor  # (k, n), unit rows
    residuals: torch.Tensor  # (k,)
    converged: torch.Tensor  # (k,) bool
    num_hvps: int
    residual_hvps: int
    iterations: int
    restarts: int
    wall_time_s: float
    tol: float
    residual_kind: str

    @property
    def k(self) -> int:
        return int(self.eigenvalues.shape[0])

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())

    def vector(self, i: int, like: Sequence[torch.Tensor]) -> Vec:
        """Eigenvector i as a parameter vector shaped like `like` (views, no copy)."""
        return unflatten(self.eigenvectors[i], like)

    def relative_residuals(self) -> torch.Tensor:
        return self.residuals / self.eigenvalues.abs().clamp_min(torch.finfo(torch.float64).tiny)

    def summary(self) -> dict:
        """JSON-ready description (everything except the eigenvectors)."""
        return {
            "method": self.method,
            "eigenvalues": self.eigenvalues.tolist(),
            "residuals": self.residuals.tolist(),
            "relative_residuals": self.relative_residuals().tolist(),
            "residual_kind": self.residual_kind,
            "converged": self.converged.tolist(),
            "num_hvps": self.num_hvps,
            "residual_hvps": self.residual_hvps,
            "iterations": self.iterations,
            "restarts": self.restarts,
            "wall_time_s": self.wall_time_s,
            "tol": self.tol,
        }


def random_start(
    n: int, dtype: torch.dtype, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """A unit Gaussian vector; drawn on the CPU so a CPU generator works for any device."""
    v = torch.randn(n, generator=generator, dtype=torch.float64)
    v = v.to(device=device, dtype=dtype)
    return v / v.norm()


def orthogonalize_(basis: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """w ← w − Bᵀ(Bw) twice (classical Gram–Schmidt with one re-orthogonalisation pass,
    "twice is enough"); returns the total coefficients Bw. Rows of B are orthonormal."""
    if basis.shape[0] == 0:
        return w.new_zeros(0)
    h = basis @ w
    w -= h @ basis
    h2 = basis @ w
    w -= h2 @ basis
    return h + h2


def canonical_signs_(vectors: torch.Tensor) -> torch.Tensor:
    """Flip each row so its largest-magnitude entry is positive (eigenvectors are defined up
    to sign; this makes saved results and downstream directions reproducible)."""
    idx = vectors.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(vectors.gather(1, idx)).clamp_min(0) * 2 - 1
    vectors *= signs
    return vectors


def measure_residuals(op: LinearOperator, values: torch.Tensor, vectors: torch.Tensor):
    """‖H v − λ v‖ per row, one product each; returns (residuals on CPU float64, count).

    Uses `op.matmat` (all rows in one batched call) when the operator has one."""
    matmat = getattr(op, "matmat", None)
    hv = matmat(vectors) if matmat else torch.stack([op.matvec(v) for v in vectors])
    lam = values.to(device=vectors.device, dtype=vectors.dtype)[:, None]
    res = (hv - lam * vectors).norm(dim=1)
    return res.to("cpu", torch.float64), int(values.shape[0])  # one host sync


def sort_descending(values: torch.Tensor, *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
    order = torch.argsort(values, descending=True)
    return (values[order], *(r[order.to(r.device)] for r in rest))
