"""The default executor: jobs as local processes, `workers` at once, one GPU each.

With several GPUs visible, each worker slot owns one (`CUDA_VISIBLE_DEVICES` set for the
jobs it runs), so N concurrent jobs use N GPUs instead of all starting on GPU 0; with more
slots than GPUs, slots share them round-robin. Without GPUs nothing is set.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from advland.device import usable_cores
from advland.experiments.executors.task import Outcome, Progress, Task, interrupt_children


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as `CUDA_VISIBLE_DEVICES` names them (ids or UUIDs)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def slot_devices(workers: int, gpus: Sequence[str]) -> list[dict[str, str]]:
    """The environment each of `workers` slots adds to its jobs: slot i gets GPU i mod n."""
    if not gpus:
        return [{} for _ in range(workers)]
    return [{"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)]} for i in range(workers)]


class LocalExecutor:
    """`workers` jobs at once on this machine, each with usable cores / workers threads."""

    def __init__(self, workers: int, gpus: Sequence[str] | None = None) -> None:
        self.workers = workers
        self.gpus = list(gpus) if gpus is not None else None

    def run(self, tasks: Sequence[Task], progress: Progress) -> list[Outcome]:
        if not tasks:
            return []
        workers = max(1, min(self.workers, len(tasks)))
        threads = max(1, usable_cores() // workers)
        gpus = self.gpus if self.gpus is not None else visible_gpus()
        slots: queue.Queue[dict[str, str]] = queue.Queue()
        for env in slot_devices(workers, gpus):
            slots.put(env)
        on = f", {min(workers, len(gpus))} GPU(s)" if gpus else ""
        progress.log(
            f"{progress.phase}: {len(tasks)} jobs, {workers} worker(s) × {threads} thread(s){on}"
        )

        def in_slot(task: Task) -> Outcome:
            env = slots.get()  # never blocks: at most `workers` tasks run at once
            try:
                return task(threads, env)
            finally:
                slots.put(env)

        pool = ThreadPoolExecutor(workers)
        try:
            for fut in as_completed([pool.submit(in_slot, t) for t in tasks]):
                progress.done(fut.result())
        except KeyboardInterrupt:
            # Start nothing new; let the running jobs checkpoint and stop (resume picks them up).
            pool.shutdown(wait=False, cancel_futures=True)
            interrupt_children()
            raise
        finally:
            pool.shutdown(wait=True)
        return progress.outcomes

    def close(self) -> None:
        pass
