"""Figure for Bezier-curve mode connectivity (paper Fig. 15).

Left: training loss L_ε(B(t)) along t; right: test error along t (at ε solid, clean dotted).
Several curves (typically one per training ε) are overlaid, one colour each.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from advland.fileio import atomic_write_bytes


def plot_curve(results: Sequence, path: str | Path, labels: Sequence[str] | None = None) -> None:
    """Plot CurveResults on one figure and save it atomically (format from the suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_l, ax_e) = plt.subplots(1, 2, figsize=(10, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, res in enumerate(results):
        label = labels[i] if labels else f"ε={res.config.eps:.4g}"
        colour, m, t = colours[i % len(colours)], res.metrics, res.t
        ax_l.plot(t, m["train_loss"], "-", color=colour, marker="o", ms=3, label=label)
        ax_e.plot(t, m["test_error"], "-", color=colour, marker="o", ms=3, label=f"{label} (ε)")
        if res.config.eps > 0:
            ax_e.plot(t, m["test_clean_error"], ":", color=colour, label=f"{label} (clean)")
    ax_l.set(xlabel="t", ylabel="training loss along B(t)")
    ax_e.set(xlabel="t", ylabel="test error (%)")
    for ax in (ax_l, ax_e):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
