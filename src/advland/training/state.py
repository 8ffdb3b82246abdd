"""The state a training run carries: progress saved in every checkpoint (`RunState`), the
machinery one epoch advances (`Trainer`) and one session of a run directory (`Session`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advland.config import RunConfig
from advland.data import Splits
from advland.runs.checkpoint import Generators
from advland.runs.rundir import checkpoint_dir
from advland.schedules import Schedule
from advland.training.dynamics import DynamicsRecorder
from advland.training.setup import CPU_PERF, Perf

Log = Callable[[str], None]


@dataclass
class RunState:
    """What changes during a run (everything else is derived from the config)."""

    epoch: int = 0  # completed epochs
    snapshots: list[str] = field(default_factory=list)
    best_val: float = math.inf
    best_epoch: int = 0
    elapsed: float = 0.0  # training seconds over all sessions of this run


@dataclass
class Trainer:
    """Everything one epoch of PGD training reads or advances: the network being trained
    (`net`, possibly the torch.compile wrapper of the run's model), its optimizer, the
    loader, the ε and lr schedules, the run's random streams, the dynamics recorder and
    the speed switches. `batches` is the number of minibatches that make one epoch. Under
    torchrun `net` is the DistributedDataParallel wrapper and `loader` yields global
    batches, of which each rank trains on its contiguous share."""

    cfg: RunConfig
    net: nn.Module
    opt: torch.optim.Optimizer
    loader: Any  # data.DeviceLoader or data.stream.StreamLoader: yields (x, y) on the device
    batches: int
    eps_at: Schedule
    lr_at: Schedule
    gens: Generators
    recorder: DynamicsRecorder | None = None
    perf: Perf = CPU_PERF
    # the network the training attack runs on: `net` itself, or under torchrun the module
    # inside the DDP wrapper (the attack's many passes need no gradient synchronisation)
    attack_net: nn.Module | None = None


@dataclass
class Session:
    """One training session of a run directory, fresh or resumed: the run's config, data,
    device and model (the module whose weights are saved), its optimizer and random
    streams, the progress so far, and where messages go."""

    cfg: RunConfig
    run_dir: Path
    splits: Splits
    device: torch.device
    model: nn.Module
    opt: torch.optim.Optimizer
    gens: Generators
    log: Log
    state: RunState = field(default_factory=RunState)
    # a fresh model of the run's architecture (for snapshot members); None: from the config
    make_model: Callable[[], nn.Module] | None = None
    callbacks: list[Callable[[dict], None]] = field(default_factory=list)
    sinks: Any = None  # training.sinks.Sinks while epochs run

    @property
    def checkpoints(self) -> Path:
        return checkpoint_dir(self.run_dir)
