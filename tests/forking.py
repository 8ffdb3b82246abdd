"""The real `advland` entry point in forked child processes (importable as `forking`).

A fork of the test process starts in milliseconds because torch and advland are already
imported (a fresh `python -m advland.cli` costs ≈2.5 s on the test machines), yet each
case still gets its own process, exit status, stdout and stderr. The child does what the
`advland` console script does — `sys.exit(advland.cli.main())` with `sys.argv` set —
including the interpreter's handling of SystemExit and uncaught exceptions (traceback on
stderr, exit status 1), with `cli_env()` (one intra-op thread) as its environment.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import torch

from support import cli_env

KILLED = -signal.SIGKILL


def fork_cli(
    argv: list[str], stdout: Path, stderr: Path | None = None, fault: str | None = None
) -> int:
    """Fork a child running `advland <argv>`; output appended to the files. Returns its pid.

    `fault` sets ADVLAND_FAULT in the child (see `advland.fileio.crash_point`)."""
    pid = os.fork()
    if pid:
        return pid
    try:  # child: never return into pytest
        _redirect(stdout, stderr or stdout)
        os.environ.clear()
        os.environ.update(cli_env())
        if fault:
            os.environ["ADVLAND_FAULT"] = fault
        torch.set_num_threads(1)
        os._exit(_entry_point(argv))
    except BaseException:
        os._exit(98)


def _redirect(stdout: Path, stderr: Path) -> None:
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 (replaces pytest's capture)
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _entry_point(argv: list[str]) -> int:
    """`sys.exit(main())` as the console script runs it; returns the process exit status."""
    import traceback

    from advland.cli import main

    sys.argv = ["advland", *argv]
    try:
        rc = main()
    except SystemExit as e:  # argparse, or a command calling sys.exit
        rc = e.code
    except BaseException:
        traceback.print_exc()
        rc = 1
    if rc is not None and not isinstance(rc, int):
        print(rc, file=sys.stderr)  # the interpreter prints a non-integer exit code
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return rc or 0


def wait(pid: int, kill_after: float | None = None, sig: int = signal.SIGKILL) -> int:
    """Wait for the child (sending `sig` after `kill_after` s); returns rc, or -signal."""
    deadline = None if kill_after is None else time.monotonic() + kill_after
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if deadline is not None and time.monotonic() >= deadline:
            os.kill(pid, sig)
            deadline = None
        time.sleep(0.01)


def run_forked(argv: list[str], log: Path, fault: str | None = None) -> int:
    """Run `advland <argv>` in a forked child to completion; returns its exit status."""
    return wait(fork_cli(argv, log, fault=fault))
