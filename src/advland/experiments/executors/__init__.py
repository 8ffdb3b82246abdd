"""Where a sweep's jobs run: local processes (the default), Ray tasks or Slurm jobs.

Every job is the same `python -m advland train|analyze ...` process in every executor (see
`task.Task`); an executor only decides where and with which resources that process runs,
and reports each `Outcome` to the driver's progress lines. One module per engine:
`local` (threads on this machine, one GPU per concurrent job), `ray` (one Ray task per job,
retried when its worker dies) and `slurm` (one submitit job array, requeued jobs resume).
Ray and submitit are optional (`pip install advland[cluster]`) and imported only here,
when their executor is chosen.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from advland.errors import UserError
from advland.experiments.executors.options import ExecutorOptions
from advland.experiments.executors.task import Outcome, Progress, Task

__all__ = ["EXECUTORS", "OPTIONS", "Executor", "ExecutorOptions", "check_options", "make_executor"]

EXECUTORS = ("local", "ray", "slurm")
# The options each executor takes, by their CLI names (`--address` → "address").
OPTIONS = {
    "local": ("workers",),
    "ray": ("address", "gpus_per_job", "cpus_per_job"),
    "slurm": (
        "partition",
        "time",
        "gpus_per_job",
        "cpus_per_job",
        "array_size",
        "slurm_folder",
    ),
}


class Executor(Protocol):
    def run(self, tasks: Sequence[Task], progress: Progress) -> list[Outcome]:
        """Run every task, report each outcome to `progress` as it arrives, return them."""
        ...

    def close(self) -> None:
        """Release what `run` acquired (a Ray connection); the executor is not used again."""
        ...


def check_options(opts: ExecutorOptions) -> None:
    """One-line UserError for an unknown executor, an option it does not take, a value out
    of range or a missing engine; nothing is started or written before this passes."""
    if opts.name not in EXECUTORS:
        raise UserError(f"unknown --executor '{opts.name}'; choose one of {', '.join(EXECUTORS)}")
    for option in {o for names in OPTIONS.values() for o in names} - set(OPTIONS[opts.name]):
        if getattr(opts, option) is not None:
            flag = "--" + option.replace("_", "-")
            takers = [e for e, names in OPTIONS.items() if option in names]
            raise UserError(
                f"{flag} is an option of --executor {' or '.join(takers)}, not of --executor {opts.name}"
            )
    _check_ranges(opts)
    _check_engine(opts)


def _check_ranges(opts: ExecutorOptions) -> None:
    lowest = {"workers": 1, "cpus_per_job": 1, "time": 1, "array_size": 1, "gpus_per_job": 0}
    for option, low in lowest.items():
        value = getattr(opts, option)
        if value is not None and value < low:
            flag = "--" + option.replace("_", "-")
            raise UserError(f"{flag} must be >= {low}, got {value}")
    if opts.name == "slurm" and opts.gpus_per_job is not None and opts.gpus_per_job % 1:
        raise UserError(f"--gpus-per-job must be a whole number on Slurm, got {opts.gpus_per_job}")


def _check_engine(opts: ExecutorOptions) -> None:
    module = {"ray": "ray", "slurm": "submitit"}.get(opts.name)
    if module and importlib.util.find_spec(module) is None:
        raise UserError(
            f"--executor {opts.name} needs {module}, which is not installed: pip install 'advland[cluster]'"
        )
    if opts.name == "slurm" and opts.submitit_cluster == "slurm" and not shutil.which("sbatch"):
        raise UserError(
            "--executor slurm needs the Slurm commands (sbatch not found on PATH): run the sweep on a Slurm login node"
        )


def make_executor(opts: ExecutorOptions, root: Path) -> Executor:
    """The executor `opts` names, its options checked; `root` is the sweep's root folder."""
    check_options(opts)
    if opts.name == "ray":
        from advland.experiments.executors.ray import RayExecutor

        return RayExecutor(opts.address, opts.cpus_per_job or 1, opts.gpus_per_job or 0)
    if opts.name == "slurm":
        from advland.experiments.executors.slurm import SlurmExecutor

        return SlurmExecutor(opts, root)
    from advland.experiments.executors.local import LocalExecutor

    return LocalExecutor(opts.workers or 2)
