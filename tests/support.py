"""Helpers shared by tests (importable as `support`; tests/ is on pytest's pythonpath):
the CLI in a subprocess, and the tiny seeded models and image batches of the analysis tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from advland.models import build_model

ROOT = Path(__file__).resolve().parents[1]

# A LeNet w=1 on 1,000 digits: a real run of a few seconds per epoch on 2 CPU cores.
TINY = [
    "data.name=mnist-5k",
    "data.train_limit=1000",
    "data.val_size=100",
    "train.val_every=1",
    "data.test_limit=200",
    "model.width=1",
    "attack.steps=3",
    "attack.step_size=0.1",
    "train.batch_size=100",
    "eval.batch_size=200",
]


def cli_env() -> dict[str, str]:
    # One intra-op thread: exact-resume comparisons need the same thread count in every
    # process (float sums are reduced in a thread-count-dependent order).
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


def run_cli(
    *args: str, cwd: Path = ROOT, check: bool = False, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real `advland` entry point in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "advland.cli", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"advland {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def lenet(dtype: torch.dtype = torch.float32) -> nn.Module:
    """LeNet w=1 on 12×12 inputs, initialised after torch.manual_seed(0)."""
    torch.manual_seed(0)
    return build_model("lenet", width=1, image_size=12).to(dtype)


def tiny_resnet18() -> nn.Module:
    """ResNet-18 w=1 (BatchNorm) on 1×6×6 inputs, initialised after torch.manual_seed(0)."""
    torch.manual_seed(0)
    return build_model("resnet18", width=1, in_channels=1, image_size=6)


def random_images(
    n: int, shape: tuple[int, ...] = (1, 12, 12), dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """n uniform images in [0, 1] and labels in 0..9, from one generator seeded with 0."""
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, *shape, generator=g).to(dtype), torch.randint(0, 10, (n,), generator=g)
