"""Device selection: CUDA when present, CPU otherwise (GPUs are optional everywhere)."""

from __future__ import annotations

import os

import torch

from advland import distributed
from advland.errors import UserError


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (taskset, cgroup cpusets, Slurm
    bindings) where the platform reports one, else every core of the machine."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def pick_device(name: str = "auto") -> torch.device:
    """Resolve "auto" | "cpu" | "cuda" | "cuda:N" to a torch.device. Under torchrun any
    CUDA device becomes `cuda:LOCAL_RANK`: one GPU per process."""
    if name == "auto":
        return distributed.device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"device '{name}' requested but CUDA is not available; use --set device=cpu"
        )
    try:
        return distributed.device(torch.device(name))
    except RuntimeError as e:
        raise UserError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from e
