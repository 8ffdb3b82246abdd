"""Validation of one `<dir>/<item>/result.json` (the contract `advland reproduce` writes).

`validate_result` checks every field the report reads and returns the object unchanged, so
the renderers can index it without defensive code. Any problem is one `UserError` line
that names the file, the field and the bad value, and says how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from advland.errors import UserError

SCALES = ("quick", "full")
VERDICTS = ("reproduced", "not reproduced", "inconclusive", "not run")
RUN_COUNTS = ("total", "completed", "diverged", "failed")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_CELL = (str, int, float, bool, type(None))


def validate_result(obj: Any, path: Path, items: Sequence[str]) -> dict:
    """`obj` (parsed from `path`) if it satisfies the result.json contract for one of the
    item names `items`; else UserError."""
    where = _Where(path)
    if not isinstance(obj, dict):
        raise where.bad(f"must hold a JSON object, got {_short(obj)}")
    name = where.get(obj, "item", str)
    if name not in items:
        raise where.bad(f"field 'item' must be one of {', '.join(items)}, got {name!r}")
    for key in ("title", "claim", "finished"):
        where.get(obj, key, str)
    if where.get(obj, "scale", str) not in SCALES:
        raise where.bad(f"field 'scale' must be 'quick' or 'full', got {obj['scale']!r}")
    where.get(obj, "settings", dict)
    _check_items(where, where.get(obj, "seeds", list), "seeds", int)
    _check_wall(where, obj)
    _check_runs(where, where.get(obj, "runs", dict))
    _check_hardware(where, where.get(obj, "hardware", dict))
    where.get(obj, "versions", dict)
    _check_versions(where, obj)
    for i, claim in enumerate(where.get(obj, "claims", list)):
        _check_claim(where, claim, f"claims[{i}]")
    obj.setdefault("tables", [])  # optional: items with figures only have no tables
    for i, table in enumerate(where.get(obj, "tables", list)):
        _check_table(where, table, f"tables[{i}]")
    for i, fig in enumerate(where.get(obj, "figures", list)):
        _check_figure(where, fig, f"figures[{i}]", path.parent)
    obj.setdefault("failed_jobs", [])  # optional: {"job", "last_line"} per failed run
    for i, job in enumerate(where.get(obj, "failed_jobs", list)):
        where.get(job, "job", str, ctx=f"failed_jobs[{i}]")
        where.get(job, "last_line", str, ctx=f"failed_jobs[{i}]")
    return obj


class _Where:
    """Builds the one-line errors for one file."""

    def __init__(self, path: Path):
        self.path = path

    def bad(self, problem: str) -> UserError:
        item = self.path.parent.name
        return UserError(
            f"{self.path}: {problem}; fix the file or rerun `advland reproduce {item}` to "
            "rewrite it"
        )

    def get(self, obj: dict, key: str, *kinds: type, ctx: str = "") -> Any:
        name = f"{ctx}.{key}" if ctx else key
        if not isinstance(obj, dict):
            raise self.bad(f"field {ctx!r} must be a JSON object, got {_short(obj)}")
        if key not in obj:
            raise self.bad(f"field {name!r} is missing")
        value = obj[key]
        if not _is(value, kinds):
            raise self.bad(f"field {name!r} must be {_kind_names(kinds)}, got {_short(value)}")
        return value


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    # bool is a subclass of int in Python, but `true` is never a valid count or seed.
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _check_items(where: _Where, values: list, name: str, *kinds: type) -> None:
    for i, v in enumerate(values):
        if not _is(v, kinds):
            raise where.bad(f"field '{name}[{i}]' must be {_kind_names(kinds)}, got {_short(v)}")


def _check_wall(where: _Where, obj: dict) -> None:
    wall = where.get(obj, "wall_s", int, float)
    if not math.isfinite(wall) or wall < 0:
        raise where.bad(f"field 'wall_s' must be a finite number of seconds >= 0, got {wall!r}")


def _check_runs(where: _Where, runs: dict) -> None:
    for key in RUN_COUNTS:
        if where.get(runs, key, int, ctx="runs") < 0:
            raise where.bad(f"field 'runs.{key}' must be >= 0, got {runs[key]!r}")


def _check_hardware(where: _Where, hw: dict) -> None:
    where.get(hw, "cpu", str, ctx="hardware")
    where.get(hw, "cores", int, type(None), ctx="hardware")  # os.cpu_count() may be None
    where.get(hw, "gpu", str, type(None), ctx="hardware")


def _check_versions(where: _Where, obj: dict) -> None:
    """Optional (results written before rules were versioned have none): the rule and
    configuration versions, the verdict families, and the history of changes."""
    for key in ("rule_version", "config_version"):
        obj.setdefault(key, 1)
        if where.get(obj, key, int) < 1:
            raise where.bad(f"field {key!r} must be >= 1, got {obj[key]!r}")
    obj.setdefault("families", [])
    _check_items(where, where.get(obj, "families", list), "families", str)
    obj.setdefault("history", [])
    for i, change in enumerate(where.get(obj, "history", list)):
        for key in ("kind", "what", "reason", "earlier", "evidence"):
            where.get(change, key, str, ctx=f"history[{i}]")
        where.get(change, "version", int, ctx=f"history[{i}]")
        change.setdefault("recomputed", False)
        where.get(change, "recomputed", bool, ctx=f"history[{i}]")


def _check_verdict(where: _Where, obj: dict, ctx: str) -> None:
    verdict = where.get(obj, "verdict", str, ctx=ctx)
    if verdict not in VERDICTS:
        allowed = ", ".join(repr(v) for v in VERDICTS)
        raise where.bad(f"field '{ctx}.verdict' must be one of {allowed}, got {verdict!r}")


def _check_claim(where: _Where, claim: Any, ctx: str) -> None:
    where.get(claim, "claim", str, ctx=ctx)
    where.get(claim, "evidence", str, ctx=ctx)
    _check_verdict(where, claim, ctx)
    claim.setdefault("rule", "")
    where.get(claim, "rule", str, ctx=ctx)
    claim.setdefault("earlier", [])
    for i, e in enumerate(where.get(claim, "earlier", list, ctx=ctx)):
        name = f"{ctx}.earlier[{i}]"
        where.get(e, "rule_version", int, ctx=name)
        where.get(e, "rule", str, ctx=name)
        where.get(e, "reason", str, ctx=name)
        _check_verdict(where, e, name)


def _check_table(where: _Where, table: Any, ctx: str) -> None:
    where.get(table, "name", str, ctx=ctx)
    _check_grid(where, table, ctx)
    table.setdefault("paper", None)  # no published numbers for this table
    paper = where.get(table, "paper", dict, type(None), ctx=ctx)
    if paper is not None:
        _check_grid(where, paper, f"{ctx}.paper")


def _check_grid(where: _Where, table: dict, ctx: str) -> None:
    columns = where.get(table, "columns", list, ctx=ctx)
    _check_items(where, columns, f"{ctx}.columns", str)
    for i, row in enumerate(where.get(table, "rows", list, ctx=ctx)):
        name = f"{ctx}.rows[{i}]"
        if not isinstance(row, list) or len(row) != len(columns):
            raise where.bad(
                f"field '{name}' must be a list of {len(columns)} cells (one per column), "
                f"got {_short(row)}"
            )
        _check_items(where, row, name, *_CELL)


def _check_figure(where: _Where, fig: Any, ctx: str, folder: Path) -> None:
    if not isinstance(fig, str):
        raise where.bad(f"field '{ctx}' must be a file name, got {_short(fig)}")
    rel = PurePosixPath(fig)
    # The report embeds these files, so a path must stay inside the item's own folder.
    if rel.is_absolute() or ".." in rel.parts or "\\" in fig or not rel.parts:
        raise where.bad(f"field '{ctx}' must be a path inside {folder.name}/, got {fig!r}")
    if rel.suffix.lower() != ".png":
        raise where.bad(
            f"field '{ctx}' must name a .png file (its .pdf sits beside it), got {fig!r}"
        )
    file = folder / rel
    if not file.is_file():
        raise where.bad(f"figure {fig!r} listed in '{ctx}' does not exist in {folder.name}/")
    with open(file, "rb") as f:
        if f.read(len(PNG_MAGIC)) != PNG_MAGIC:
            raise where.bad(f"figure {fig!r} listed in '{ctx}' is not a PNG image")


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "a JSON object",
        type(None): "null",
        bool: "true/false",
    }
    if float in kinds:
        kinds = tuple(k for k in kinds if k is not int)  # "a number" covers both
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)  # repr escapes newlines, so the message stays on one line
    return text if len(text) <= limit else text[: limit - 3] + "..."
