"""The one place figures are created and saved (every plot_* module uses it).

matplotlib is an optional extra, imported lazily and used through the Agg canvas directly
(no global pyplot backend is switched). Each figure is written as PNG and PDF, with the
plotted data as JSON beside it, all atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

from advland.errors import UserError
from advland.fileio import atomic_write_bytes, atomic_write_json


def new_figure(nrows: int, ncols: int, size: tuple[float, float]):
    """(figure, 2-D array of axes)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise UserError(
            "figures need matplotlib, which is not installed; run: pip install 'advland[plot]'"
        ) from e
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def save_figure(fig, data: dict, stem: str | Path) -> list[Path]:
    """Write <stem>.png, <stem>.pdf and <stem>.json (the plotted data); returns the paths."""
    stem = Path(stem)
    paths = []
    for fmt in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150)
        path = stem.with_name(f"{stem.name}.{fmt}")
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    path = stem.with_name(f"{stem.name}.json")
    atomic_write_json(path, data)
    return [*paths, path]
