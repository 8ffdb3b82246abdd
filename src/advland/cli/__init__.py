"""The `advland` command line: thin; builds typed configs and calls the library.

Every subcommand lives in its own module exposing `add_parser(subparsers)`, which sets
`func(args) -> int`. User errors print one line and exit with code 2 (tracebacks only with
--debug); Ctrl-C exits with 130 after telling how to resume.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator

from advland.errors import UserError


class _Parser(argparse.ArgumentParser):
    """Usage errors in the same one-line form as every other user error (exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"advland: error: {self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from advland.cli import data, evaluate, export, quickstart, report, reproduce, train

    parser = _Parser(
        prog="advland",
        description="Adversarial training with periodic adversarial scheduling, and analysis of "
        "the adversarial loss landscape.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (train, evaluate, quickstart, data, reproduce, report, export):
        module.add_parser(sub)
    _add_optional(sub)
    return parser


def _add_optional(sub) -> None:
    # The analysis CLI is optional so a broken plotting stack never breaks training.
    try:
        from advland.cli import analyze
    except ImportError:
        return
    analyze.add_parser(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _process_group():
            return int(args.func(args) or 0)
    except UserError as e:
        if args.debug:
            raise
        print(f"advland: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\nadvland: interrupted; resume with 'advland train --resume RUN_DIR'", file=sys.stderr
        )
        return 130


@contextlib.contextmanager
def _process_group() -> Iterator[None]:
    """Under torchrun: join the process group for the command and leave it afterwards;
    the standard output of the ranks other than 0 is dropped (rank 0 prints for all).
    Without torchrun: nothing."""
    from advland import distributed

    if not distributed.launched():
        yield
        return
    distributed.init()
    quiet = None if distributed.is_main() else open(os.devnull, "w")  # noqa: SIM115
    try:
        with contextlib.redirect_stdout(quiet) if quiet else contextlib.nullcontext():
            yield
    finally:
        if quiet is not None:
            quiet.close()
        distributed.destroy()


if __name__ == "__main__":
    sys.exit(main())
