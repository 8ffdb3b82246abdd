"""An exclusive lock on a run directory, held while a process trains or resumes the run.

    with RunLock(run_dir):          # raises UserError when another live process holds it
        ...train...

The lock is `fcntl.flock(LOCK_EX | LOCK_NB)` on `<run_dir>/run.lock`. The kernel releases
a flock when its holder exits for any reason, SIGKILL included, so a lock whose holder
died is recovered by the next process without any cleanup (the file itself stays; its
content is only informative). The holder writes `pid=<pid> host=<host>` into the file so
the refusal names it. On a network file system flock is only as good as the server's
lock support (NFSv4 and Lustre with `flock` mounted: yes; otherwise it may be local to
one node).

Under torchrun only rank 0 takes the lock (`advland.training.loop`): the ranks of one job
must not block each other, and a second job on the same run then fails on its rank 0.
The lock is not re-entrant: one `RunLock` per run and process.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import TracebackType

from advland.errors import UserError

LOCK_NAME = "run.lock"


class RunLock:
    """Context manager holding the exclusive lock of `run_dir` (see module docstring).

    `acquire()` raises UserError, naming the run, the holder's pid and host and the fix,
    when another live process holds the lock; `release()` is idempotent."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise UserError(
                f"run '{self.run_dir}' is in use by another process ({holder or 'unknown'}); "
                "wait for it to finish or stop it, then resume with "
                f"'advland train --resume {self.run_dir}'"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid={os.getpid()} host={socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        import fcntl

        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def holder(run_dir: str | Path) -> str | None:
    """`pid=… host=…` of the last process that took the lock (it may have exited)."""
    path = Path(run_dir) / LOCK_NAME
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""
