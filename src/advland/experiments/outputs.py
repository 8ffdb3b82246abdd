"""Reading analysis outputs back for a recipe's summary (JSON written by `advland analyze`)."""

from __future__ import annotations

from pathlib import Path

from advland.fileio import read_json


def load_json(path: Path) -> dict | None:
    """The verified JSON at `path`, or None when the analysis has not produced it."""
    if not path.is_file():
        return None
    return read_json(path, rerun="rerun 'advland reproduce' for this item")
