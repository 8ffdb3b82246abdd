"""Checkpoints that resume a run exactly.

A checkpoint holds the model and optimizer state, the number of completed epochs (the
schedules are stateless, so that is the whole schedule position), every RNG state the run
draws from, the PAS snapshot list and the config. Files are written atomically and loaded
with `weights_only=True` only, so a checkpoint can never execute code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from advland.errors import UserError
from advland.fileio import atomic_torch_save

FORMAT = 1


@dataclass
class Generators:
    """The run's explicit random streams (no global RNG is used for training randomness)."""

    data: torch.Generator  # shuffling and augmentation
    attack: torch.Generator  # PGD random starts

    @classmethod
    def seeded(cls, seed: int) -> Generators:
        return cls(
            data=torch.Generator().manual_seed(seed),
            attack=torch.Generator().manual_seed(seed + 1_000_003),
        )

    def state(self) -> dict:
        return {
            "data": self.data.get_state(),
            "attack": self.attack.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def restore(self, state: dict) -> None:
        self.data.set_state(state["data"])
        self.attack.set_state(state["attack"])
        torch.set_rng_state(state["torch"])
        if state.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    gens: Generators,
    snapshots: list[str],
    config: dict,
    extra: dict | None = None,
) -> str:
    """Atomically write a resumable checkpoint; returns its SHA-256."""
    return atomic_torch_save(
        path,
        {
            "format": FORMAT,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": gens.state(),
            "snapshots": list(snapshots),
            "config": config,
            "extra": extra or {},
        },
    )


def save_weights(path: Path, model: nn.Module, epoch: int, config: dict) -> str:
    """Weights only (period snapshots, best and initial θ)."""
    return atomic_torch_save(
        path, {"format": FORMAT, "epoch": epoch, "model": model.state_dict(), "config": config}
    )


def load_file(path: Path, map_location: str | torch.device = "cpu") -> dict:
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' not found; check the run directory")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated/tampered files
        raise UserError(
            f"checkpoint '{path}' is unreadable or corrupt ({type(e).__name__}); delete it or resume from an older one"
        ) from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or "model" not in obj:
        raise UserError(f"checkpoint '{path}' is not an advland checkpoint (format {FORMAT})")
    return obj


def load_weights(model: nn.Module, path: Path) -> dict:
    obj = load_file(path, map_location=next(model.parameters()).device)
    try:
        model.load_state_dict(obj["model"])
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else "shape mismatch"
        raise UserError(
            f"checkpoint '{path}' does not fit this model ({first}); was it trained with another model/width?"
        ) from e
    return obj
