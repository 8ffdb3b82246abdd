"""`advland data list | download NAME | verify NAME` (argparse lives only here)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from advland.data.download import download
from advland.data.registry import dataset_names
from advland.data.sources import list_datasets
from advland.data.verify import verify


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "data",
        help="list, download and verify datasets",
        description="Datasets live in <data dir>/<name>/ (default: $ADVLAND_DATA_DIR, else the "
        "user cache directory). Mirrors can be overridden with ADVLAND_MIRRORS_<NAME>.",
    )
    parser.add_argument("--data-dir", default="", help="data directory (default: see above)")
    # The same option after the sub-command; SUPPRESS keeps it from overwriting the above.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="data_command", metavar="{list,download,verify}")
    commands.required = True

    p = commands.add_parser("list", parents=[common], help="registered datasets and their state")
    p.set_defaults(func=run_list)
    p = commands.add_parser("download", parents=[common], help="download and verify a dataset")
    p.add_argument("name", choices=dataset_names())
    p.set_defaults(func=run_download)
    p = commands.add_parser("verify", parents=[common], help="check the SHA-256 of a dataset")
    p.add_argument("name", choices=dataset_names())
    p.set_defaults(func=run_verify)
    return parser


def run_list(args: argparse.Namespace) -> int:
    rows = list_datasets(args.data_dir)
    table = [("NAME", "CLASSES", "SHAPE", "TRAIN/TEST", "SIZE", "CACHED", "LOCATION")]
    for r in rows:
        shape = "x".join(str(s) for s in r["shape"])
        cached = "yes" if r["cached"] else "no"
        size = _size(r["size"])
        table.append(
            (r["name"], str(r["classes"]), shape, r["splits"], size, cached, r["location"])
        )
    _print_table(table)
    return 0


def run_download(args: argparse.Namespace) -> int:
    for path in download(args.name, args.data_dir, progress=True):
        print(f"ok  {path}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    rows = verify(args.name, args.data_dir)
    table = [("STATUS", "CHECK", "PATH", "EXPECTED", "ACTUAL")]
    for r in rows:
        status = "ok" if r["ok"] else ("MISSING" if r["actual"] is None else "BAD")
        table.append((status, r["check"], r["path"], r["expected"] or "-", r["actual"] or "-"))
    _print_table(table)
    bad = sum(not r["ok"] for r in rows)
    if bad:
        print(f"{bad} of {len(rows)} file(s) failed; run `advland data download {args.name}`")
    return 1 if bad else 0


def _size(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return "-"


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
