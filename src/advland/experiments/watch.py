"""Progress of a sweep's running training jobs, between the sweep's own per-job lines.

A sweep logs one line when a job ends; a job can take minutes. `Watch` prints, every
`every` seconds, where each unfinished run stands, read from files the runs write anyway
(`metrics.jsonl` per epoch, `summary.json` at the end), so it works the same for every
executor that shares the sweep's folder. Reading only: a run never waits for it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from advland.experiments.executors.task import FINISHED
from advland.experiments.jobs import TrainJob, run_dir_of


def last_epoch(run_dir: Path) -> dict:
    """The last complete line of a run's metrics.jsonl; {} before its first epoch."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    for line in reversed(path.read_text(encoding="utf-8").splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:  # a line being written right now
            continue
    return {}


def run_state(run_dir: Path, epochs: int | None) -> str:
    """'queued', 'epoch E/N, I img/s, training ETA S s', 'evaluating' or the final status."""
    if not run_dir.exists():
        return "queued"
    summary = run_dir / "summary.json"
    if summary.is_file():
        try:
            return str(json.loads(summary.read_text(encoding="utf-8")).get("status", "done"))
        except json.JSONDecodeError:
            return "finishing"
    last = last_epoch(run_dir)
    if not last:
        return "starting"
    if epochs is not None and last.get("epoch", 0) >= epochs:
        return "evaluating"
    of = f"/{epochs}" if epochs is not None else ""
    return (
        f"epoch {last.get('epoch')}{of}, {last.get('images_per_s', 0):.0f} img/s, "
        f"training ETA {last.get('eta_s', 0):.0f} s"
    )


def status_line(
    root: Path, jobs: Sequence[TrainJob], epochs: dict[str, int], elapsed: float
) -> str:
    """One line: elapsed time, then each unfinished run's state ("done" ones are left out)."""
    parts = []
    for job in jobs:
        state = run_state(run_dir_of(root, job), epochs.get(job.key))
        if state not in FINISHED:
            parts.append(f"{job.key.rsplit('-', 1)[0]}: {state}")
    return f"[{elapsed / 60:.1f} min] " + (" | ".join(parts) or "all runs finished")


class Watch:
    """Context manager: a daemon thread logging `status_line` every `every` seconds."""

    def __init__(
        self,
        root: Path,
        jobs: Sequence[TrainJob],
        epochs: dict[str, int],
        log: Callable[[str], None],
        every: float = 30.0,
    ) -> None:
        self.root, self.jobs, self.epochs, self.log, self.every = root, jobs, epochs, log, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._start = time.perf_counter()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            elapsed = time.perf_counter() - self._start
            self.log(status_line(self.root, self.jobs, self.epochs, elapsed))

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
