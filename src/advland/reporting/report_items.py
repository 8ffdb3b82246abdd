"""The report's model: every paper item, in paper order, with its result.json if it has one.

The items themselves (name, title, claim, in order) are data the caller passes in, so the
report knows nothing of how they are reproduced. Shared by the Markdown and HTML renderers,
so both say the same thing: the same summary rows, verdict counts, durations and figure
companions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from advland.errors import UserError
from advland.fileio import read_json
from advland.reporting.report_schema import VERDICTS, validate_result

COMPANIONS = (".pdf", ".csv", ".json")  # files saved beside each figure's PNG


class Item(Protocol):
    """One item of the paper as the report lists it (e.g. `experiments.paper.PaperItem`)."""

    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def claim(self) -> str: ...


@dataclass(frozen=True)
class ItemEntry:
    paper: Item
    result: dict | None  # the validated result.json; None when the item was not run
    folder: Path | None  # the folder holding result.json and its figures

    @property
    def title(self) -> str:
        return self.result["title"] if self.result else self.paper.title

    @property
    def claim(self) -> str:
        return self.result["claim"] if self.result else self.paper.claim


def load_items(root: Path, items: Sequence[Item]) -> list[ItemEntry]:
    """One entry per item of `items`, in that order, from every `<root>/*/result.json`."""
    if not root.is_dir():
        raise UserError(
            f"report folder {str(root)!r} does not exist; pass the folder that "
            "`advland reproduce` wrote into"
        )
    names = [it.name for it in items]
    found: dict[str, Path] = {}
    results: dict[str, dict] = {}
    for path in sorted(root.glob("*/result.json")):
        result = validate_result(_read_json(path), path, names)
        name = result["item"]
        if name in found:
            raise UserError(
                f"{path} and {found[name]} both hold results for {name!r}; move "
                "one of the two folders out of the report folder"
            )
        found[name], results[name] = path, result
    return [
        ItemEntry(it, results.get(it.name), found[it.name].parent if it.name in found else None)
        for it in items
    ]


def _read_json(path: Path) -> object:
    # Verifies the checksum advland writes into every result file (fileio.read_json).
    return read_json(path, rerun=f"rerun `advland reproduce {path.parent.name}` to rewrite it")


def verdict_counts(entry: ItemEntry) -> dict[str, int]:
    """How many of the item's claims have each verdict (all zero when not run)."""
    claims = entry.result["claims"] if entry.result else []
    return {v: sum(c["verdict"] == v for c in claims) for v in VERDICTS}


def verdict_summary(entry: ItemEntry) -> str:
    """E.g. "2/2 reproduced", "1/3 reproduced, 1 not reproduced, 1 not run", "not run"."""
    if entry.result is None:
        return "not run"
    counts = verdict_counts(entry)
    total = sum(counts.values())
    if total == 0:
        return "no claims checked"
    parts = [f"{counts['reproduced']}/{total} reproduced"]
    parts += [f"{counts[v]} {v}" for v in VERDICTS[1:] if counts[v]]
    return ", ".join(parts)


def duration(seconds: float) -> str:
    """Wall time as "45s", "13m 32s" or "2h 05m"."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def summary_rows(entries: list[ItemEntry]) -> list[dict]:
    """The report's first table: item | scale | verdicts | wall time."""
    return [
        {
            "item": e.paper.name,
            "scale": e.result["scale"] if e.result else "-",
            "verdicts": verdict_summary(e),
            "wall time": duration(e.result["wall_s"]) if e.result else "-",
        }
        for e in entries
    ]


def companions(folder: Path, figure: str) -> list[Path]:
    """The PDF and data files saved beside a figure's PNG (those that exist)."""
    png = folder / figure
    return [p for ext in COMPANIONS if (p := png.with_suffix(ext)).is_file()]


def runs_line(runs: dict) -> str:
    sanity = runs.get("sanity-failed", 0)
    checks = f"{sanity} sanity-failed (counted as measured), " if sanity else ""
    return (
        f"{runs['completed']}/{runs['total']} completed, {runs['diverged']} diverged, "
        f"{checks}{runs['failed']} failed"
    )


def hardware_line(hw: dict) -> str:
    gpu = hw["gpu"] or "no GPU"
    return f"{hw['cpu']}, {hw['cores'] or '?'} cores, {gpu}"


def pairs_line(d: dict, sep: str = "=") -> str:
    """A flat dict as "k=v, k=v" (settings and versions are free-form)."""
    return ", ".join(f"{k}{sep}{_value(v)}" for k, v in d.items()) or "-"


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return "-" if v is None else str(v)


def cell(v: object) -> str:
    """A table cell as text: numbers as given, true/false as yes/no, null as "-"."""
    return _value(v)


def meta_fields(result: dict) -> list[tuple[str, str]]:
    """What produced an item's numbers, as (label, text) in the order both reports show."""
    seeds = ", ".join(str(s) for s in result["seeds"]) or "-"
    return [
        ("scale", result["scale"]),
        ("seeds", seeds),
        ("rules", rules_line(result)),
        ("runs", runs_line(result["runs"])),
        ("wall time", duration(result["wall_s"])),
        ("compute", compute_line(result)),
        ("settings", pairs_line(result["settings"])),
        ("hardware", hardware_line(result["hardware"])),
        ("versions", pairs_line(result["versions"], " ")),
        ("finished", result["finished"]),
    ]


def rules_line(result: dict) -> str:
    """E.g. "rule v2 (directional, flat), quick configuration v3"."""
    families = ", ".join(result.get("families", [])) or "-"
    return f"rule v{result['rule_version']} ({families}), configuration v{result['config_version']}"


def claim_notes(claim: dict) -> list[str]:
    """The lines under a claim: its rule (with any tolerance), then its verdict under each
    earlier rule version, computed from the same data, with the reason for the change."""
    notes = [f"rule: {claim['rule']}"] if claim.get("rule") else []
    notes += [
        f"under rule v{e['rule_version']} ({e['rule']}): {e['verdict']} — changed because "
        f"{e['reason']}"
        for e in claim.get("earlier", [])
    ]
    return notes


def history_lines(result: dict) -> list[str]:
    """One line per change of rule or configuration made after results existed, with the
    verdict under the version before (recorded, or recomputed beside each claim)."""
    lines = []
    for c in result.get("history", []):
        where = "recomputed from this data" if c["recomputed"] else "recorded, not re-run"
        lines.append(
            f"{c['kind']} v{c['version']}: {c['what']}. Why: {c['reason']}. Before "
            f"({where}): {c['earlier']}; {c['evidence']}"
        )
    return lines


def compute_line(result: dict) -> str:
    """The summed time of every job the item needs (one worker, from scratch), if recorded."""
    seconds = result.get("compute_s")
    if not isinstance(seconds, (int, float)) or seconds <= 0:
        return "-"
    return f"{duration(seconds)} of jobs in all (shared runs counted in full)"
