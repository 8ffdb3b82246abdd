"""`advland report DIR`: report.md and a self-contained report.html over `advland reproduce`.

Reads every `DIR/<item>/result.json` (validated by `report_schema`), lists every item the
caller names, in its order (items without results as "not run"), and writes both reports
atomically. The output depends only on the result folders, so rerunning it over the same
folder rewrites identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from advland.fileio import atomic_write_text
from advland.reporting.report_html import render_html
from advland.reporting.report_items import Item, ItemEntry, load_items, summary_rows
from advland.reporting.report_md import render_markdown

__all__ = ["Item", "ItemEntry", "build_report", "load_items", "summary_rows", "write_report"]


def build_report(
    root: str | Path, out: str | Path | None = None, *, items: Sequence[Item]
) -> tuple[Path, Path]:
    """Write `<out>/report.md` and `<out>/report.html` (out defaults to `root`) over `items`
    (e.g. `experiments.paper.ITEMS`)."""
    root = Path(root)
    return write_report(load_items(root, items), Path(out) if out is not None else root)


def write_report(entries: list[ItemEntry], out: Path) -> tuple[Path, Path]:
    """Render loaded entries into `out`; returns (report.md, report.html)."""
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write_text(md_path, render_markdown(entries, out))
    atomic_write_text(html_path, render_html(entries))
    return md_path, html_path
