"""Load what an analysis needs from a run directory: config, data splits, trained model.

Analyses see inputs as float tensors in [0,1] on the model's device, drawn as a seeded
subset whose indices (positions in the run's split) are recorded with every result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from advland.config import RunConfig
from advland.data import Split, Splits, load_splits
from advland.device import pick_device
from advland.errors import UserError
from advland.runs.checkpoint import load_weights
from advland.runs.model import build_run_model
from advland.runs.rundir import checkpoint_dir, load_run_config, require_run_dir


@dataclass
class LoadedRun:
    path: Path
    cfg: RunConfig
    splits: Splits
    model: nn.Module
    device: torch.device

    @property
    def label(self) -> str:
        return f"{self.path.name} (ε={self.cfg.attack.eps:g})"

    def fresh_model(self, seed: int) -> nn.Module:
        """A newly initialised model of the same architecture (random θ for normalisation)."""
        torch.manual_seed(seed)
        return build_run_model(self.cfg, self.splits, self.device)


def load_run(
    run_dir: str | Path, checkpoint: str = "latest", device: str | None = None
) -> LoadedRun:
    path = require_run_dir(run_dir)
    cfg = load_run_config(path)
    ck = checkpoint_dir(path) / f"{checkpoint}.pt"
    if not ck.is_file():
        raise UserError(
            f"checkpoint '{ck}' not found; finish training first (advland train --resume {path})"
        )
    dev = pick_device(device or cfg.device)
    splits = load_splits(cfg.data)
    model = build_run_model(cfg, splits, dev)
    load_weights(model, ck)
    return LoadedRun(path, cfg, splits, model.eval(), dev)


def subset(
    split: Split, n: int, seed: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """A seeded random subset of `n` examples (all if n <= 0 or n >= len) as float tensors."""
    total = split.y.shape[0]
    if 0 < n < total:
        pos = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values
    else:
        pos = torch.arange(total)
    x = split.x[pos].to(device).float().div_(255.0)
    return x, split.y[pos].to(device), split.indices[pos].tolist()
