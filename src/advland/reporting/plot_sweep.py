"""Mean ± standard deviation of a test error against a swept setting (paper Fig. 4, 13, 14)."""

from __future__ import annotations

from pathlib import Path

from advland.reporting.figure import new_figure, save_figure

Series = dict[str, tuple[list[float], list[float], list[float]]]  # label → (x, mean, std)


def plot_sweep(
    series: Series,
    stem: str | Path,
    xlabel: str,
    ylabel: str,
    log_x: bool = False,
    reference: tuple[str, float] | None = None,
) -> list[Path]:
    """One error-bar line per label; `reference` draws a labelled horizontal line (Fig. 13)."""
    fig, axes = new_figure(1, 1, (5.5, 4))
    ax = axes[0, 0]
    for i, (label, (x, mean, std)) in enumerate(series.items()):
        ax.errorbar(x, mean, yerr=std, marker="o", ms=4, capsize=3, color=f"C{i}", label=label)
    if reference is not None:
        ax.axhline(reference[1], color="C0", ls="--", lw=1.2, label=reference[0])
    if log_x:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    data: dict[str, dict[str, object]]
    data = {k: {"x": x, "mean": m, "std": s} for k, (x, m, s) in series.items()}
    if reference is not None:
        data["reference"] = {"label": reference[0], "value": reference[1]}
    return save_figure(fig, data, Path(stem))
