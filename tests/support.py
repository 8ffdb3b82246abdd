"""Helpers shared by tests (importable as `support`; tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def run_cli(
    *args: str, cwd: Path = ROOT, check: bool = False, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real `advland` entry point in a subprocess."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "advland.cli", *args],
        cwd=cwd,
        env=env,
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
