"""Top-k Hessian spectrum plot (paper Fig. 2 / Fig. 9).

One colour per run; normalised eigenvalues solid, raw (original) eigenvalues dashed, index
1..k on the x-axis. Writes PNG and PDF plus the plotted numbers as JSON beside them, all
atomically. matplotlib is an optional extra, imported lazily; the figure is drawn on an
explicit Agg canvas, so no pyplot global state is touched.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from advland.errors import UserError
from advland.fileio import atomic_write_bytes, atomic_write_json


def _series(result: Any) -> tuple[list[float], list[float] | None]:
    """(raw, normalised) eigenvalues from a SpectrumResult-like object or a dict such as a
    loaded spectrum.json."""
    get = result.get if isinstance(result, Mapping) else lambda k: getattr(result, k, None)
    raw = get("eigenvalues")
    if raw is None:
        raise UserError("a spectrum result needs 'eigenvalues'; pass SpectrumResult or its JSON")
    norm = get("normalized_eigenvalues")
    to_list = lambda v: [float(t) for t in v]  # noqa: E731 - tensors, arrays and lists alike
    return to_list(raw), None if norm is None or len(norm) == 0 else to_list(norm)


def _figure():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise UserError(
            "plotting needs matplotlib, which is not installed; run: pip install 'advland[plot]'"
        ) from e
    fig = Figure(figsize=(5.0, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_spectrum(results: Mapping[str, Any], path: str | Path) -> dict[str, Path]:
    """Overlay the spectra of several runs (label -> result) and save the figure.

    `path` names the figure; its suffix is replaced: <stem>.png, <stem>.pdf, <stem>.json.
    Returns the written paths by kind.
    """
    if not results:
        raise UserError("plot_spectrum needs at least one result; pass {label: result}")
    base = Path(path).with_suffix("")
    data = {label: _series(r) for label, r in results.items()}
    fig = _figure()
    ax = fig.subplots()
    for i, (label, (raw, norm)) in enumerate(data.items()):
        color = f"C{i % 10}"
        idx = range(1, len(raw) + 1)
        if norm is not None:
            ax.plot(idx, norm, "-o", color=color, ms=3, label=f"{label} (normalised)")
        ax.plot(idx, raw, "--", color=color, alpha=0.8, label=f"{label} (original)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("Hessian eigenvalue")
    ax.set_title("Top Hessian eigenvalues (normalised solid, original dashed)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    paths = {"png": base.with_suffix(".png"), "pdf": base.with_suffix(".pdf")}
    for fmt, p in paths.items():
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150)
        atomic_write_bytes(p, buf.getvalue())
    paths["json"] = base.with_suffix(".json")
    plotted = {
        label: {"eigenvalues": raw, "normalized_eigenvalues": norm}
        for label, (raw, norm) in data.items()
    }
    atomic_write_json(paths["json"], plotted)
    return paths
