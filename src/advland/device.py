"""Device selection: CUDA when present, CPU otherwise (GPUs are optional everywhere)."""

from __future__ import annotations

import torch

from advland import distributed
from advland.errors import UserError


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
