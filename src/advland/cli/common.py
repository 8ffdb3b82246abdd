"""Small helpers shared by the CLI modules (printing, output folders)."""

from __future__ import annotations

import signal
from pathlib import Path

from tabulate import tabulate


def print_table(rows: list[dict], floatfmt: str = ".2f", numparse: bool = True) -> None:
    """A GitHub-style table; numparse=False prints preformatted cells (e.g. "1e-3") as is."""
    print(
        tabulate(
            rows,
            headers="keys",
            floatfmt=floatfmt,
            tablefmt="github",
            disable_numparse=not numparse,
        )
    )


def fresh_dir(base: Path) -> Path:
    """`base` if unused, else base-2, base-3, … (only for default output names)."""
    if not base.exists():
        return base
    k = 2
    while Path(f"{base}-{k}").exists():
        k += 1
    return Path(f"{base}-{k}")


def result_rows(res: dict) -> list[dict]:
    """Table rows (final, snapshots, ensemble) from a summary or an evaluation entry."""
    rows = [
        {
            "model": "final",
            "clean error %": res.get("clean_error"),
            "robust error %": res.get("robust_error"),
        }
    ]
    if "ensemble" in res:
        ens = res["ensemble"]
        rows += [
            {
                "model": f"snapshot {i}",
                "clean error %": m["clean_error"],
                "robust error %": m["robust_error"],
            }
            for i, m in enumerate(ens["members"])
        ]
        rows.append(
            {
                "model": "ensemble",
                "clean error %": ens["clean_error"],
                "robust error %": ens["robust_error"],
            }
        )
    return rows


def add_set_argument(parser, what: str = "a config value, e.g. --set train.epochs=3") -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override {what} (repeatable)",
    )


def sigterm_as_interrupt() -> None:
    """SIGTERM (e.g. from a scheduler) stops like Ctrl-C: the last epoch checkpoint is kept."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
