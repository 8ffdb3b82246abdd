"""The data a run trains and is evaluated on: `Split` (tensors with provenance) and
`Splits` (train / validation / test, shape, classes, augmentation, an optional stream)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # uint8, N x C x H x W, CPU
    y: torch.Tensor  # int64, N
    indices: torch.Tensor  # int64, N: positions in the source split (provenance)

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Splits:
    name: str
    num_classes: int
    shape: tuple[int, ...]  # (C, H, W)
    train: Split
    val: Split
    test: Split
    source: str  # where the data came from (path / mirror / package)
    augment: str  # resolved augmentation ("none" | "crop-flip")
    # a training set read each epoch by the streaming loader (`data.user.UserStream`);
    # `train` is then empty
    stream: Any = None
