"""Figure for adversarial loss surfaces (paper Fig. 12).

2-D surfaces: one column per ε, a 3-D surface on top and a contour map below, each with
its own z-scale (as in the paper, where the largest ε needs a different scale). 1-D
surfaces: loss and robust error against a1, one line per ε. Unfinished points (a partial,
resumable grid) are left blank.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from advland.fileio import atomic_write_bytes


def plot_surface(result, path: str | Path) -> None:
    """Plot a SurfaceResult and save it atomically (format from the file suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loss = np.where(result.done, result.loss, np.nan)
    if result.config.a2 is None:
        fig = _plot_1d(plt, result, loss)
    else:
        fig = _plot_2d(plt, result, loss)
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _plot_1d(plt, result, loss: np.ndarray):
    fig, (ax_l, ax_e) = plt.subplots(1, 2, figsize=(10, 4))
    error = np.where(result.done, result.error, np.nan)
    for e, eps in enumerate(result.eps):
        ax_l.plot(result.a1, loss[e, :, 0], marker="o", ms=3, label=f"ε={eps:.4g}")
        ax_e.plot(result.a1, error[e, :, 0], marker="o", ms=3, label=f"ε={eps:.4g}")
    ax_l.set(xlabel="a1", ylabel="adversarial loss L_ε(θ + a1·v1)")
    ax_e.set(xlabel="a1", ylabel="robust error (%)")
    for ax in (ax_l, ax_e):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plot_2d(plt, result, loss: np.ndarray):
    n = len(result.eps)
    fig = plt.figure(figsize=(4.2 * n, 8))
    a1, a2 = np.meshgrid(result.a1, result.a2, indexing="ij")
    for e, eps in enumerate(result.eps):
        z = loss[e]
        ax3 = fig.add_subplot(2, n, e + 1, projection="3d")
        ax3.plot_surface(a1, a2, z, cmap="viridis", linewidth=0, antialiased=True)
        ax3.set(xlabel="a1", ylabel="a2", zlabel="L_ε", title=f"ε={eps:.4g}")
        ax = fig.add_subplot(2, n, n + e + 1)
        if np.isfinite(z).sum() >= 4 and np.nanmax(z) > np.nanmin(z):
            cs = ax.contourf(a1, a2, z, levels=20, cmap="viridis")
            fig.colorbar(cs, ax=ax, shrink=0.8)
        ax.plot(0, 0, "r+", ms=10)  # θ itself
        ax.set(xlabel="a1", ylabel="a2")
    kind = "eigenvectors" if result.config.directions == "eigen" else "filter-normalised random"
    fig.suptitle(f"L_ε(θ + a1·v1 + a2·v2), v: {kind}")
    fig.tight_layout()
    return fig
