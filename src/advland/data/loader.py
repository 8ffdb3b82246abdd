"""A device-resident loader: the whole split is one uint8 tensor on the device.

Per epoch, `iter(loader)` draws ALL randomness of the epoch up front from the CPU
`generator`, in a fixed order: the permutation (if shuffling), then the crop offsets and
flips for every position of the epoch (if augmenting). Restoring `generator.get_state()`
at an epoch boundary therefore reproduces the epoch bit-exactly, however far the previous
epoch was iterated. The hot loop is then pure indexing on the device: no per-sample
Python, no worker processes, one host-to-device copy per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from advland.data.augment import AUGMENTATIONS, crop_flip, draw_crop_flip, pad_images
from advland.data.splits import Split


class DeviceLoader:
    """Keeps the whole split as ONE uint8 (or float32 in [0,1]) tensor on `device`; per epoch: permutation from the
    CPU torch.Generator, batched augmentation on device, yields (x float32 in [0,1], y int64)."""

    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        device: torch.device,
        shuffle: bool,
        generator: torch.Generator | None = None,
        augment: str = "none",
        drop_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if augment not in AUGMENTATIONS:
            raise ValueError(f"augment '{augment}' unknown; use one of {AUGMENTATIONS}")
        if (shuffle or augment != "none") and generator is None:
            raise ValueError("shuffling or augmenting needs an explicit CPU torch.Generator")
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(f"generator must live on the CPU, got {generator.device}")
        self.device = torch.device(device)
        self.x = split.x.to(self.device)  # one upload for the whole training run
        self.y = split.y.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.augment = augment
        self.drop_last = drop_last
        height, width = self.x.shape[-2:]
        self.size = (height, width)
        # Padded once; a crop is then a gather (costs 1.6x the memory of CIFAR, ~0.25 GB).
        self._padded = pad_images(self.x) if augment == "crop-flip" else None

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # Eager: the draws happen at iter() time, not at the first next().
        order, offsets, flips = self._draw_epoch()
        return self._batches(order, offsets, flips)

    def _draw_epoch(self):
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        offsets = flips = None
        if self.augment == "crop-flip":
            assert self.generator is not None  # required by __init__ for augmentation
            offsets, flips = draw_crop_flip(n, self.generator)
            offsets, flips = offsets.to(self.device), flips.to(self.device)  # host->device copy
        return order.to(self.device), offsets, flips  # host->device copy

    def _batches(self, order, offsets, flips) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        b = self.batch_size
        for i in range(len(self)):
            window = slice(i * b, (i + 1) * b)
            index = order[window]
            if self._padded is not None:
                # Parameters follow the epoch position, so they are tied to the draw order.
                x = crop_flip(self._padded, index, offsets[window], flips[window], self.size)
            else:
                x = self.x[index]
            yield (x.float().div_(255) if x.dtype == torch.uint8 else x), self.y[index]
