"""Checkpoints of Bezier-curve training (`advland.analysis.landscape.curves.fit_curve`).

Every `cfg.checkpoint_every` batches and at every epoch end the control points, the
optimizer state, the training generator (data order, t draws, PGD starts) and the position
(epoch, batch, the running loss sums, the history) are saved as one stage of the job
runner (`advland.analysis.runner`: atomic, framed by the checkpoint integrity header). A
later call with the same settings, endpoints and data (checked by a fingerprint)
continues from there and ends bit-identical to an uninterrupted training: the epoch's
shuffle is replayed from the generator state saved at the start of the epoch, then the
generator continues from its saved state and the finished batches are skipped. A
finished training is not redone. Exact only for (x, y) tensors; a DataLoader is
re-iterated (its own shuffling is not saved) and skipped to the saved batch, and its data
are not fingerprinted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from advland.analysis.landscape.bezier import BezierCurve
from advland.analysis.landscape.curve_types import CurveConfig
from advland.analysis.runner import Stage, StageCache, fingerprint

# Settings that do not affect the trained control points (evaluation, checkpoint cadence).
_NOT_TRAINING = ("num_t", "bn_examples", "bn_batch_size", "eval_batch_size", "checkpoint_every")
TRAIN = "train"  # the stage name of the training checkpoint


def training_stage(file: str) -> Stage:
    """The training checkpoint as a runner stage in file `file`."""
    return Stage(
        file,
        rerun="delete it and rerun (the curve training restarts)",
        mismatch="'{path}' holds the training of another curve (other settings, endpoints "
        "or data); delete it or choose another output folder",
    )


@dataclass
class Position:
    """Where training stands: `step` batches of epoch `epoch` (0-based) are done."""

    epoch: int = 0
    step: int = 0
    epoch_rng: torch.Tensor | None = None  # generator state before this epoch's shuffle
    total: float = 0.0  # running sum of loss × batch size over the epoch's finished batches
    count: int = 0
    history: list[dict] = field(default_factory=list)


def training_fingerprint(cfg: CurveConfig, model_a: nn.Module, model_b: nn.Module, data) -> str:
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _NOT_TRAINING}
    tensors = [*model_a.state_dict().values(), *model_b.state_dict().values()]
    if isinstance(data, tuple | list) and all(isinstance(t, torch.Tensor) for t in data):
        tensors += list(data)
    return fingerprint(settings, tensors)


@dataclass(frozen=True)
class CurveCheckpoint:
    """The training checkpoint in a runner `StageCache`, for one training fingerprint."""

    cache: StageCache
    fingerprint: str

    def save(self, curve: BezierCurve, opt: torch.optim.Optimizer, gen, pos: Position) -> None:
        payload = {
            "format": 1,
            "fingerprint": self.fingerprint,
            "controls": [p.detach() for p in curve.control_parameters()],
            "optimizer": opt.state_dict(),
            "rng": gen.get_state(),
            **dataclasses.asdict(pos),
        }
        self.cache.put(TRAIN, self.fingerprint, payload)

    def restore(self, curve: BezierCurve, opt: torch.optim.Optimizer, gen) -> Position:
        """Load the saved state into `curve`, `opt`, `gen`; a fresh Position if none."""
        obj = self.cache.get(TRAIN, self.fingerprint)
        if obj is None:
            return Position()
        with torch.no_grad():
            for p, saved in zip(curve.control_parameters(), obj["controls"], strict=True):
                p.copy_(saved)
        opt.load_state_dict(obj["optimizer"])
        gen.set_state(obj["rng"])
        names = {f.name for f in dataclasses.fields(Position)}
        pos = Position(**{k: v for k, v in obj.items() if k in names})
        self.cache.note(
            TRAIN,
            f"resuming curve training from {{path}} after {pos.epoch} epochs + {pos.step} batches",
        )
        return pos
