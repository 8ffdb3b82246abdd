"""Output of the Hessian spectrum tool: `spectrum.json`, `spectrum.npz`, the figure, the
printed table, and the resume bookkeeping (for `advland.analysis.hessian.spectrum`).

Resume granularity: the eigensolve and each random model of the normaliser. Right after
the solve, `spectrum.npz` is written with the eigenpairs, the losses at θ and a
fingerprint (settings, weights, data subset); each random model's loss goes to
`random_losses.json` as soon as it is known (fingerprinted without θ and the solver
settings, which it does not depend on). A rerun into the same folder reuses both
(`SpectrumProgress`), so a killed multi-run `advland analyze hessian` redoes at most the
solve or the random model it was killed in. A Lanczos solve itself restarts from scratch.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from advland.analysis.hessian.eigen import EigenResult
from advland.analysis.params import num_params
from advland.analysis.resume import architecture, fingerprint
from advland.errors import UserError
from advland.fileio import atomic_write_json, atomic_write_npz, read_json, read_npz

if TYPE_CHECKING:
    from advland.analysis.hessian.spectrum import SpectrumConfig, SpectrumResult

RERUN = "rerun 'advland analyze hessian' (the folder's other results are reused)"
SOLVER_FIELDS = ("k", "solver", "tol", "max_iter", "solver_seed", "hvp_method")
_META = ("method", "num_hvps", "residual_hvps", "iterations", "restarts", "wall_time_s", "tol",
         "residual_kind")  # fmt: skip


def write_spectrum(
    result: SpectrumResult,
    out_dir: Path,
    model: nn.Module,
    *,
    wall_time_s: float,
    progress: SpectrumProgress | None = None,
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
    progress = progress or SpectrumProgress(out_dir)
    record["fingerprint"] = progress.solve_fp or None
    progress.save_solve(
        result.eigen, result.adversarial_loss, result.clean_loss, result.subset_indices,
        normalized=result.normalized_eigenvalues,
    )  # fmt: skip
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


@dataclass(frozen=True)
class SpectrumProgress:
    """Partial results of one spectrum computation in `out_dir` (see the module doc)."""

    out_dir: Path
    solve_fp: str = ""  # settings + θ + subset: the eigensolve and the losses at θ
    norm_fp: str = ""  # attack/subset settings + architecture + subset: random losses
    resume: bool = True
    verbose: bool = True

    @classmethod
    def of(cls, out_dir: Path, cfg: SpectrumConfig, model: nn.Module, xs, ys, **kw):
        conf = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "num_random_models"}
        attack = {k: v for k, v in conf.items() if k not in SOLVER_FIELDS}
        norm_fp = fingerprint({**attack, "architecture": architecture(model)}, [xs, ys])
        solve_fp = fingerprint({**conf, "normaliser": norm_fp}, model.state_dict().values())
        return cls(Path(out_dir), solve_fp, norm_fp, **kw)

    def save_solve(self, eigen: EigenResult, adv_loss: float, clean_loss: float,
                   idx: torch.Tensor, normalized: torch.Tensor | None = None) -> None:  # fmt: skip
        """spectrum.npz: eigenpairs, losses at θ, solver record and fingerprint."""
        meta = {k: v for k, v in eigen.summary().items() if k in _META}
        atomic_write_npz(self.out_dir / "spectrum.npz", {
            "eigenvalues": eigen.eigenvalues.numpy(),
            "normalized_eigenvalues": np.array([]) if normalized is None else normalized.numpy(),
            "eigenvectors": eigen.eigenvectors.cpu().numpy(),
            "residuals": eigen.residuals.numpy(),
            "converged": eigen.converged.cpu().numpy(),
            "subset_indices": idx.numpy(),
            "adversarial_loss": np.float64(adv_loss),
            "clean_loss": np.float64(clean_loss),
            "solver": json.dumps(meta),
            "fingerprint": self.solve_fp,
        })  # fmt: skip

    def solved(self, device: torch.device) -> tuple[EigenResult, float, float] | None:
        """The eigensolve and the losses at θ from an earlier call with the same inputs."""
        path = self.out_dir / "spectrum.npz"
        if not (self.resume and self.solve_fp and path.is_file()):
            return None
        z = read_npz(path, rerun=RERUN)
        if str(z.get("fingerprint")) != self.solve_fp:
            return None  # another config, model or subset: recomputed and overwritten
        eigen = EigenResult(
            eigenvalues=torch.from_numpy(z["eigenvalues"]),
            eigenvectors=torch.from_numpy(z["eigenvectors"]).to(device),
            residuals=torch.from_numpy(z["residuals"]),
            converged=torch.from_numpy(z["converged"]),
            **json.loads(str(z["solver"])),
        )
        self._say(f"reusing the eigensolve in {path}")
        return eigen, float(z["adversarial_loss"]), float(z["clean_loss"])

    def random_losses(self, wanted: int) -> dict[int, float]:
        """Random-model losses by seed from an earlier call with the same inputs."""
        path = self.out_dir / "random_losses.json"
        if not (self.resume and self.norm_fp and path.is_file()):
            return {}
        rec = read_json(path, rerun=RERUN)
        if rec.get("fingerprint") != self.norm_fp:
            return {}
        losses = {int(k): float(v) for k, v in rec["losses"].items() if int(k) < wanted}
        self._say(f"reusing {len(losses)} of {wanted} random-model losses in {path}")
        return losses

    def save_random_losses(self, losses: dict[int, float]) -> None:
        if self.norm_fp:
            atomic_write_json(
                self.out_dir / "random_losses.json",
                {"fingerprint": self.norm_fp, "losses": {str(k): v for k, v in losses.items()}},
            )

    def _say(self, message: str) -> None:
        if self.verbose:
            tqdm.write(message)
