"""The options of a sweep's executor, as one frozen record (CLI flags of the same names)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExecutorOptions:
    """How to run a sweep. Unset options (None) take the executor's default; giving one
    that the executor does not use is an error (`check_options`)."""

    name: str = "local"
    workers: int | None = None  # local: jobs at once (default 2)
    address: str | None = None  # ray: an existing cluster (default: start Ray here)
    gpus_per_job: float | None = None  # ray, slurm (default 0)
    cpus_per_job: int | None = None  # ray, slurm: also the job's threads (default 1)
    partition: str | None = None  # slurm (default: the cluster's default partition)
    time: int | None = None  # slurm: minutes per job before a requeue (default 240)
    array_size: int | None = None  # slurm: jobs of the array running at once (default all)
    slurm_folder: str | None = None  # slurm: submitit's files (default ROOT/slurm)
    submitit_cluster: str = "slurm"  # "local": submitit's local executor (tests), no sbatch
