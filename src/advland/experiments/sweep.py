"""Run a sweep's jobs: skip finished runs, resume interrupted ones, on any executor.

Each job is a separate `python -m advland ...` process (`executors.task.Task`), so one
crashing or diverging run never takes the sweep down: its status is read back from its own
`summary.json` (`completed`, `diverged`, `sanity-failed`) or recorded as `failed` with the
log's last line. Killing the sweep leaves every run resumable; rerunning the same command
skips completed runs and resumes the rest from their last checkpoint
(`advland train --resume`). Where the processes run — local workers (the default), Ray
tasks or Slurm jobs — is the executor's choice (`advland.experiments.executors`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from advland.experiments.executors import Executor, ExecutorOptions, make_executor
from advland.experiments.executors.task import (
    FINISHED,
    Outcome,
    Progress,
    Task,
    add_job_seconds,
    job_seconds,
    train_command,
    train_status,
)
from advland.experiments.jobs import AnalysisJob, TrainJob

__all__ = [
    "FINISHED",
    "Outcome",
    "add_job_seconds",
    "job_seconds",
    "run_sweep",
    "train_command",
    "train_status",
]


def run_sweep(
    root: Path,
    train_jobs: Sequence[TrainJob],
    analysis_jobs: Sequence[AnalysisJob],
    workers: int,
    log: Callable[[str], None] | None = None,
    *,
    executor: ExecutorOptions | Executor | None = None,
) -> list[Outcome]:
    """Training first (all in parallel), then the analyses that read the trained runs.
    `executor`: options naming where the jobs run, or an executor; default: `workers`
    local processes. An executor made here from options is closed at the end."""
    log = log or _log
    if executor is None:
        executor = ExecutorOptions(workers=workers)
    own = isinstance(executor, ExecutorOptions)
    engine = make_executor(executor, root) if isinstance(executor, ExecutorOptions) else executor
    try:
        outcomes = _run_phase(engine, [Task(root, j) for j in train_jobs], log, "train")
        return outcomes + _run_phase(
            engine, [Task(root, j) for j in analysis_jobs], log, "analysis"
        )
    finally:
        if own:
            engine.close()


def _run_phase(engine: Executor, tasks: list[Task], log, phase: str) -> list[Outcome]:
    if not tasks:
        return []
    return engine.run(tasks, Progress(phase, len(tasks), log))


def _log(line: str) -> None:
    print(line, flush=True)  # flushed: the sweep's log is often a file watched with tail -f
