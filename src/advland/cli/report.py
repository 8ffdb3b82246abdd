"""`advland report DIR [--out DIR]`: the reproduction report (argparse lives only here)."""

from __future__ import annotations

import argparse
from pathlib import Path

from advland.cli.common import print_table


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write report.md and a self-contained report.html over reproduce results",
        description="Reads DIR/<item>/result.json for every item `advland reproduce` ran and "
        "writes report.md (figures linked) and report.html (figures embedded; open it in any "
        "browser). Items without results are listed as not run.",
    )
    p.add_argument("dir", metavar="DIR", help="the folder `advland reproduce` wrote into")
    p.add_argument("--out", metavar="DIR", help="where to write the reports (default: DIR)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so `advland --help` does not pay for the reporting modules.
    from advland.experiments.paper import ITEMS
    from advland.reporting.report import load_items, summary_rows, write_report

    entries = load_items(Path(args.dir), ITEMS)
    md_path, html_path = write_report(entries, Path(args.out or args.dir))
    print(f"wrote {md_path}")
    print(f"wrote {html_path}")
    print_table(summary_rows(entries))
    return 0
