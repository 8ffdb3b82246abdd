"""Sweep jobs as one Slurm job array, submitted through submitit.

Each job of a phase is one array task running the job's `advland` process (`task.Task`)
with the requested partition, time limit, GPUs and CPUs; `array_size` caps how many run at
once. The reproduction root must be on a filesystem the nodes share. A job that Slurm
preempts, or that reaches its time limit, is requeued by submitit (`SlurmJob` is
checkpointable: its checkpoint is the same job again) and its run resumes from the last
epoch checkpoint, so runs longer than `--time` finish over several allocations. A finished
run is skipped by a requeued job as by any rerun.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import submitit

from advland.experiments.executors.options import ExecutorOptions
from advland.experiments.executors.task import Outcome, Progress, Task

DEFAULT_TIME_MIN = 240
MAX_REQUEUES = 1000  # timeouts a job may be requeued after (preemptions do not count)
_POLL_S = 1.0


class SlurmJob(submitit.helpers.Checkpointable):
    """One array task: the job's process. On preemption or timeout submitit calls
    `checkpoint()`, which (inherited) resubmits this same object: the run resumes."""

    def __init__(self, task: Task, threads: int) -> None:
        self.task, self.threads = task, threads

    def __call__(self) -> Outcome:
        return self.task(self.threads)


class SlurmExecutor:
    """One submitit job array per phase; the driver polls it and prints progress lines."""

    def __init__(self, opts: ExecutorOptions, root: Path) -> None:
        self.opts = opts
        self.folder = Path(opts.slurm_folder) if opts.slurm_folder else root / "slurm"

    def _executor(self, phase: str, size: int) -> submitit.AutoExecutor:
        opts = self.opts
        ex = submitit.AutoExecutor(
            folder=self.folder / "%j",
            cluster=opts.submitit_cluster,
            slurm_max_num_timeout=MAX_REQUEUES,
        )
        params: dict[str, Any] = {
            "name": f"advland-{phase}",
            "timeout_min": opts.time or DEFAULT_TIME_MIN,
            "cpus_per_task": opts.cpus_per_job or 1,
            "slurm_array_parallelism": opts.array_size or size,
        }
        if opts.gpus_per_job:
            params["gpus_per_node"] = int(opts.gpus_per_job)
        if opts.partition:
            params["slurm_partition"] = opts.partition
        ex.update_parameters(**params)
        return ex

    def run(self, tasks: Sequence[Task], progress: Progress) -> list[Outcome]:
        threads = self.opts.cpus_per_job or 1
        ex = self._executor(progress.phase, len(tasks))
        with ex.batch():
            jobs = [ex.submit(SlurmJob(t, threads)) for t in tasks]
        ids = f"{jobs[0].job_id.split('_')[0]}" if jobs else "-"
        progress.log(
            f"{progress.phase}: {len(tasks)} jobs as Slurm array {ids}"
            f" ({self.opts.cpus_per_job or 1} CPU(s), {self.opts.gpus_per_job or 0:g} GPU(s)"
            f" each; submitit files in {self.folder})"
        )
        pending = dict(zip(jobs, tasks, strict=True))
        try:
            while pending:
                for job in [j for j in pending if j.done()]:
                    progress.done(_outcome(job, pending.pop(job)))
                time.sleep(_POLL_S if pending else 0)
        except KeyboardInterrupt:
            for job in pending:  # scancel: each run stops on SIGTERM at its last checkpoint
                job.cancel(check=False)
            raise
        return progress.outcomes

    def close(self) -> None:
        pass


def _outcome(job: Any, task: Task) -> Outcome:
    """The job's outcome, or `failed` with submitit's reason (cancelled, out of requeues)."""
    try:
        return job.result()
    except Exception as e:  # submitit raises the job's failure as a (long) exception
        text = str(e).strip()
        first = text.splitlines()[0] if text else type(e).__name__
        return Outcome(task.name, "failed", 0.0, f"Slurm job {job.job_id}: {first}")
