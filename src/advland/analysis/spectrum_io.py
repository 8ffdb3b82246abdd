"""Output of the Hessian spectrum tool: `spectrum.json`, `spectrum.npz`, the figure, and the
printed table (for `advland.analysis.spectrum`)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from torch import nn

from advland.analysis.params import num_params
from advland.errors import UserError
from advland.fileio import atomic_write_bytes, atomic_write_json

if TYPE_CHECKING:
    from advland.analysis.spectrum import SpectrumResult


def write_spectrum(
    result: SpectrumResult, out_dir: Path, model: nn.Module, *, wall_time_s: float
) -> None:
    """spectrum.json + spectrum.npz (atomic), then the figure (skipped with a warning if
    matplotlib is missing — the numbers are the primary output)."""
    from advland.reporting.plot_spectrum import plot_spectrum

    record = result.to_dict()
    record["model"] = {
        "num_params": num_params(model),
        "dtype": str(result.eigen.eigenvectors.dtype),
        "device": str(result.eigen.eigenvectors.device),
    }
    record["wall_time_s"] = wall_time_s
    record["files"] = {"npz": "spectrum.npz", "figure": "spectrum_plot.png"}
    buf = io.BytesIO()
    norm_vals = result.normalized_eigenvalues
    np.savez(
        buf,
        eigenvalues=result.eigenvalues.numpy(),
        normalized_eigenvalues=np.array([]) if norm_vals is None else norm_vals.numpy(),
        eigenvectors=result.eigen.eigenvectors.cpu().numpy(),
        residuals=result.eigen.residuals.numpy(),
        subset_indices=result.subset_indices.numpy(),
    )
    atomic_write_bytes(out_dir / "spectrum.npz", buf.getvalue())
    try:
        plot_spectrum({f"eps={result.config.eps:g}": result}, out_dir / "spectrum_plot.png")
    except UserError as e:
        warnings.warn(f"figure skipped: {e}", stacklevel=2)
        record["files"]["figure"] = None
    atomic_write_json(out_dir / "spectrum.json", record)


def format_table(result: SpectrumResult) -> str:
    e = result.eigen
    norm_vals = result.normalized_eigenvalues
    lines = [
        f"Hessian spectrum ({e.method}, {e.num_hvps}+{e.residual_hvps} HVPs, "
        f"{e.wall_time_s:.1f}s, eps={result.config.eps:g}, normaliser="
        + ("n/a" if result.normalizer is None else f"{result.normalizer:.4g}")
        + ")",
        f"{'i':>3} {'eigenvalue':>12} {'normalised':>12} {'rel.resid':>10} conv",
    ]
    rel = e.relative_residuals()
    for i in range(e.k):
        nv = "n/a" if norm_vals is None else f"{float(norm_vals[i]):.5g}"
        lines.append(
            f"{i + 1:>3} {float(e.eigenvalues[i]):>12.5g} {nv:>12} {float(rel[i]):>10.2e} "
            + ("yes" if bool(e.converged[i]) else "no")
        )
    return "\n".join(lines)
