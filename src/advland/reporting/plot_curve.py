"""Figure for Bezier-curve mode connectivity (paper Fig. 15).

Left: training loss L_ε(B(t)) along t; right: test error along t (at ε solid, clean dotted).
Several curves (typically one per training ε) are overlaid, one colour each. Written through
`reporting.figure`: <stem>.png, <stem>.pdf and the plotted numbers as <stem>.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from advland.errors import UserError
from advland.reporting.figure import new_figure, save_figure


def plot_curve(results: Sequence, path: str | Path, labels: Sequence[str] | None = None) -> list:
    """Overlay CurveResults; `path`'s suffix is replaced. Returns the files written."""
    if not results:
        raise UserError("plot_curve needs at least one CurveResult")
    fig, axes = new_figure(1, 2, (10, 4))
    ax_l, ax_e = axes[0]
    data = {}
    for i, res in enumerate(results):
        label = labels[i] if labels else f"ε={res.config.attack.eps:.4g}"
        colour, m, t, robust = f"C{i % 10}", res.metrics, res.t, res.config.attack.eps > 0
        ax_l.plot(t, m["train_loss"], "-", color=colour, marker="o", ms=3, label=label)
        name = f"{label} (at ε)" if robust else label
        ax_e.plot(t, m["test_error"], "-", color=colour, marker="o", ms=3, label=name)
        if robust:
            ax_e.plot(t, m["test_clean_error"], ":", color=colour, label=f"{label} (clean)")
        data[label] = {"t": list(t), **{k: list(v) for k, v in m.items()}}
    ax_l.set(xlabel="t", ylabel="training loss along B(t)")
    ax_e.set(xlabel="t", ylabel="test error (%)")
    for ax in (ax_l, ax_e):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, data, Path(path).with_suffix(""))
