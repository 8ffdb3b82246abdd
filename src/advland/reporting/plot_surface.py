"""Figure for adversarial loss surfaces (paper Fig. 12).

2-D surfaces: one column per ε, a 3-D surface on top and a contour map below, each with
its own z-scale (as in the paper, where the largest ε needs a different scale). 1-D
surfaces: loss and robust error against a1, one line per ε. Unfinished points (a partial,
resumable grid) are left blank. Written through `reporting.figure`: <stem>.png, <stem>.pdf
and the plotted numbers as <stem>.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advland.reporting.figure import new_figure, save_figure


def plot_surface(result, path: str | Path) -> list[Path]:
    """Plot a SurfaceResult; `path`'s suffix is replaced. Returns the files written."""
    loss = np.where(result.done, result.loss, np.nan)
    fig = (_plot_1d if result.config.a2 is None else _plot_2d)(result, loss)
    data = {
        "a1": result.a1.tolist(),
        "a2": result.a2.tolist(),
        "eps": list(result.eps),
        "loss": _blank_unfinished(result.done, result.loss),
        "robust_error": _blank_unfinished(result.done, result.error),
    }
    return save_figure(fig, data, Path(path).with_suffix(""))


def _blank_unfinished(done: np.ndarray, values: np.ndarray) -> list:
    """The values as nested lists, None at unfinished points."""
    return np.where(done, values, np.array(None, dtype=object)).tolist()


def _plot_1d(result, loss: np.ndarray):
    fig, axes = new_figure(1, 2, (10, 4))
    ax_l, ax_e = axes[0]
    error = np.where(result.done, result.error, np.nan)
    for e, eps in enumerate(result.eps):
        ax_l.plot(result.a1, loss[e, :, 0], marker="o", ms=3, label=f"ε={eps:.4g}")
        ax_e.plot(result.a1, error[e, :, 0], marker="o", ms=3, label=f"ε={eps:.4g}")
    ax_l.set(xlabel="a1", ylabel="adversarial loss L_ε(θ + a1·v1)")
    ax_e.set(xlabel="a1", ylabel="robust error (%)")
    for ax in (ax_l, ax_e):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def _plot_2d(result, loss: np.ndarray):
    n = len(result.eps)
    fig, axes = new_figure(2, n, (4.2 * n, 8))
    a1, a2 = np.meshgrid(result.a1, result.a2, indexing="ij")
    for e, eps in enumerate(result.eps):
        z = loss[e]
        axes[0, e].remove()  # the top row becomes 3-D axes
        ax3 = fig.add_subplot(2, n, e + 1, projection="3d")
        ax3.plot_surface(a1, a2, z, cmap="viridis", linewidth=0, antialiased=True)
        ax3.set(xlabel="a1", ylabel="a2", zlabel="L_ε", title=f"ε={eps:.4g}")
        ax = axes[1, e]
        if np.isfinite(z).sum() >= 4 and np.nanmax(z) > np.nanmin(z):
            cs = ax.contourf(a1, a2, z, levels=20, cmap="viridis")
            fig.colorbar(cs, ax=ax, shrink=0.8)
        ax.plot(0, 0, "r+", ms=10)  # θ itself
        ax.set(xlabel="a1", ylabel="a2")
    kind = "eigenvectors" if result.config.directions == "eigen" else "filter-normalised random"
    fig.suptitle(f"L_ε(θ + a1·v1 + a2·v2), v: {kind}")
    return fig
