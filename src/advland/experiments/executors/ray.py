"""Sweep jobs as Ray tasks: on an existing cluster (`address`) or on a Ray started here.

Each job is one Ray task with its resource request (`num_cpus`, `num_gpus`) that runs the
job's `advland` process (`task.Task`) on whichever node Ray picks; the reproduction root
must be a folder every node sees at the same path, and advland must be installed on every
node. A task whose worker process dies (a killed worker, a lost node) is retried by Ray up
to `MAX_RETRIES` times; the retry resumes the run from its last checkpoint, and the child of
the dead worker died with it (`PR_SET_PDEATHSIG`), so no run is ever trained twice at once.
A finished run is skipped by the retry as by any rerun.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import ray

from advland.experiments.executors.task import Outcome, Progress, Task

MAX_RETRIES = 3  # a task's retries after its worker died (Ray's own default)
_CANCEL_WAIT_S = 150  # time for cancelled tasks' runs to checkpoint and stop


def _run(task: Task, threads: int) -> Outcome:
    """The body of a job's Ray task: its process, on this worker."""
    return task(threads)


class RayExecutor:
    """One Ray task per job; `cpus` per job (also its threads) and `gpus` per job."""

    def __init__(self, address: str | None, cpus: int, gpus: float) -> None:
        self.address, self.cpus, self.gpus = address, cpus, gpus
        self._connected = False

    def _connect(self) -> None:
        """Connect (or start Ray here); a connection the caller already made is used as it
        is, and left open by `close`."""
        if self._connected or ray.is_initialized():
            return
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        if self.address is None:
            # "local": a new Ray for this sweep only, never one that `ray start` left running.
            kwargs.update(address="local", include_dashboard=False)
        else:
            kwargs.update(address=self.address)
        ray.init(**kwargs)
        self._connected = True

    def run(self, tasks: Sequence[Task], progress: Progress) -> list[Outcome]:
        self._connect()
        remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=MAX_RETRIES)(_run)
        gpus = f", {self.gpus:g} GPU(s)" if self.gpus else ""
        progress.log(
            f"{progress.phase}: {len(tasks)} jobs as Ray tasks, {self.cpus} CPU(s){gpus} each"
            f" (cluster: {ray.cluster_resources().get('CPU', 0):g} CPUs,"
            f" {ray.cluster_resources().get('GPU', 0):g} GPUs)"
        )
        pending = {remote.remote(t, self.cpus): t for t in tasks}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    progress.done(_outcome(ref, pending.pop(ref)))
        except KeyboardInterrupt:
            _cancel(list(pending))
            raise
        return progress.outcomes

    def close(self) -> None:
        if self._connected:
            ray.shutdown()
            self._connected = False


def _outcome(ref: Any, task: Task) -> Outcome:
    """The task's outcome, or `failed` with Ray's reason when the task itself failed (its
    worker died more than MAX_RETRIES times)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return Outcome(task.name, "failed", 0.0, f"Ray: {type(e).__name__}: {first}")


def _cancel(refs: list) -> None:
    """Ctrl-C: each running task gets a KeyboardInterrupt, which stops its run at the last
    checkpoint (`task.call`); queued tasks never start."""
    for ref in refs:
        ray.cancel(ref, force=False)
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=_CANCEL_WAIT_S)
