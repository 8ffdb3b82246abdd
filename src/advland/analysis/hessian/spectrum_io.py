"""Files of the Hessian spectrum tool: `spectrum.json`, `spectrum.npz`, the figure, the
printed table, and the two resumable stages (`advland.analysis.runner`).

Resume granularity: the eigensolve and each random model of the normaliser. Right after
the solve, stage "solve" writes `spectrum.npz` with the eigenpairs, the losses at θ and a
fingerprint (settings, weights, data subset); each random model's loss goes to stage
"random_losses" (`random_losses.json`) as soon as it is known (fingerprinted without θ
and the solver settings, which it does not depend on). A rerun into the same folder
reuses both, so a killed multi-run `advland analyze hessian` redoes at most the solve or
the random model it was killed in. A Lanczos solve itself restarts from scratch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from advland.analysis.hessian.eigen import EigenResult
from advland.analysis.hessian.spectrum_types import SpectrumResult
from advland.analysis.params import num_params
from advland.analysis.runner import Job, Stage

RERUN = "rerun 'advland analyze hessian' (the folder's other results are reused)"
STAGES = {
    "solve": Stage("spectrum.npz", rerun=RERUN),
    "random_losses": Stage("random_losses.json", rerun=RERUN),
}
_META = (
    "method",
    "num_hvps",
    "residual_hvps",
    "iterations",
    "restarts",
    "wall_time_s",
    "tol",
    "residual_kind",
)


def solve_payload(
    eigen: EigenResult,
    losses: tuple[float, float],
    idx: torch.Tensor,
    normalized: torch.Tensor | None = None,
) -> dict:
    """Stage "solve": eigenpairs, the (adversarial, clean) losses at θ, solver record."""
    meta = {k: v for k, v in eigen.summary().items() if k in _META}
    return {
        "eigenvalues": eigen.eigenvalues.numpy(),
        "normalized_eigenvalues": np.array([]) if normalized is None else normalized.numpy(),
        "eigenvectors": eigen.eigenvectors.cpu().numpy(),
        "residuals": eigen.residuals.numpy(),
        "converged": eigen.converged.cpu().numpy(),
        "subset_indices": idx.numpy(),
        "adversarial_loss": np.float64(losses[0]),
        "clean_loss": np.float64(losses[1]),
        "solver": json.dumps(meta),
    }


def solved_from(z: dict, device: torch.device) -> tuple[EigenResult, float, float]:
    """The eigensolve and the losses at θ from a stage "solve" payload."""
    eigen = EigenResult(
        eigenvalues=torch.from_numpy(z["eigenvalues"]),
        eigenvectors=torch.from_numpy(z["eigenvectors"]).to(device),
        residuals=torch.from_numpy(z["residuals"]),
        converged=torch.from_numpy(z["converged"]),
        **json.loads(str(z["solver"])),
    )
    return eigen, float(z["adversarial_loss"]), float(z["clean_loss"])


def write_spectrum(
    result: SpectrumResult,
    out: Job | Path | str,
    model: nn.Module,
    *,
    wall_time_s: float,
) -> None:
    """spectrum.npz and spectrum.json (atomic), the figure in between (skipped with a
    warning if matplotlib is missing: the numbers are the primary output)."""
    job = out if isinstance(out, Job) else Job("hessian", out, STAGES, resume=False)
    record = result.to_dict()
    record["model"] = {
        "num_params": num_params(model),
        "dtype": str(result.eigen.eigenvectors.dtype),
        "device": str(result.eigen.eigenvectors.device),
    }
    record["wall_time_s"] = wall_time_s
    record["files"] = {"npz": "spectrum.npz", "figure": "spectrum_plot.png"}
    record["fingerprint"] = result.fingerprint or None
    if job.cache is not None:
        losses = (result.adversarial_loss, result.clean_loss)
        payload = solve_payload(
            result.eigen, losses, result.subset_indices, result.normalized_eigenvalues
        )
        job.cache.put("solve", result.fingerprint, payload)
        series = {f"eps={result.config.eps:g}": result}
        plot = "advland.reporting.plot_spectrum:plot_spectrum"
        drawn = job.figure(plot, series, job.path("spectrum_plot.png"), optional=True)
        if drawn is None:
            record["files"]["figure"] = None
    job.write_json("spectrum.json", record)


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
