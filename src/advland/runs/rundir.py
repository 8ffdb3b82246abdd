"""The run directory: its layout, creation, config and summary.

runs/<name>/
  config.yaml      resolved configuration
  env.json         versions, git revision, command line, device
  metrics.jsonl    one JSON object per epoch
  dynamics.jsonl   per-minibatch gradient statistics (when train.dynamics is on)
  checkpoints/     latest.pt, previous.pt (the one before: resume fallback), best.pt,
                   init.pt (θ0), snapshot-<k>.pt (PAS period ends); all SHA-256 framed
  summary.json     status, clean_error, robust_error, attack, ensemble.{...}
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from advland.config import RunConfig, build_config, dump_yaml
from advland.errors import UserError
from advland.fileio import atomic_write_json, atomic_write_text, read_json


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file()


def require_run_dir(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise UserError(
            f"run directory '{path}' does not exist; pass a folder made by 'advland train'"
        )
    if not is_run_dir(path):
        raise UserError(
            f"'{path}' is not a run directory (no config.yaml); pass a folder made by 'advland train'"
        )
    return path


def create_run_dir(path: Path, cfg: RunConfig, device: torch.device) -> None:
    """Make a fresh run directory; refuse to overwrite an existing run."""
    if path.exists() and any(path.iterdir()):
        raise UserError(
            f"run directory '{path}' already exists and is not empty; "
            f"resume it with 'advland train --resume {path}' or choose another --out"
        )
    try:
        checkpoint_dir(path).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot create run directory '{path}': {e.strerror}; choose a writable --out"
        ) from e
    if not os.access(path, os.W_OK):
        raise UserError(f"run directory '{path}' is not writable; choose a writable --out")
    atomic_write_text(path / "config.yaml", dump_yaml(cfg))
    atomic_write_json(path / "env.json", environment(device))


def load_run_config(run_dir: Path) -> RunConfig:
    return build_config(run_dir / "config.yaml")


def read_summary(run_dir: Path) -> dict:
    """summary.json with its checksum verified; {} while the run has none yet."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return {}
    # a completed run's resume skips training and rewrites the whole summary
    return read_json(path, rerun=f"run 'advland train --resume {run_dir}' to rebuild it")


def environment(device: torch.device) -> dict:
    import numpy

    import advland

    return {
        "advland": advland.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor(),
        "threads": torch.get_num_threads(),
        "git_revision": _git_revision(),
        "command": sys.argv,
    }


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
