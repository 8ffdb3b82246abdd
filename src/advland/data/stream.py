"""The streaming data path: a standard torch `DataLoader` (worker processes, pinned memory)
over a map-style dataset, for data that does not fit on the device and for user datasets
with their own per-sample transforms.

Exact resume. Every draw of an epoch comes from the run's CPU `generator`, at `iter()`
time and in a fixed order: the crop/flip parameters (built-in augmentation), the
DataLoader's worker base seed (worker k seeds torch with base_seed + k, so random
transforms in workers replay), then the sampler's permutation. With `workers=0` a user
transform that draws from torch's global RNG replays too: that state is in every
checkpoint. Restoring the generator at an epoch boundary reproduces the epoch bit for bit.

Batches are moved to the device with `non_blocking` copies from pinned memory (CUDA); uint8
images are converted to float in [0,1] on the device, float images are used as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from advland.data.augment import AUGMENTATIONS, crop_flip, draw_crop_flip, pad_images
from advland.data.split_types import Split
from advland.device import usable_cores


class SplitDataset(Dataset):
    """A `Split` (uint8 N x C x H x W in host memory) as a map-style dataset."""

    def __init__(self, split: Split):
        self.x, self.y = split.x, split.y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def default_workers() -> int:
    """Worker processes when `data.workers` is -1: up to 4, one core left for training."""
    return max(0, min(4, usable_cores() - 1))


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0,1]; float inputs unchanged (already in [0,1])."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


class StreamLoader:
    """Yields (x float32 in [0,1] on `device`, y int64 on `device`) from a map-style
    dataset through a torch DataLoader seeded from the run's `generator`."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        device: torch.device,
        generator: torch.Generator,
        shuffle: bool = True,
        workers: int = 0,
        pin_memory: bool | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        augment: str = "none",
        drop_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if augment not in AUGMENTATIONS:
            raise ValueError(f"augment '{augment}' unknown; use one of {AUGMENTATIONS}")
        self.dataset, self.batch_size = dataset, batch_size
        self.device = torch.device(device)
        self.generator, self.shuffle, self.workers = generator, shuffle, workers
        self.pin_memory = self.device.type == "cuda" if pin_memory is None else pin_memory
        self.collate_fn, self.augment, self.drop_last = collate_fn, augment, drop_last
        self.n = len(dataset)  # type: ignore[arg-type]

    def __len__(self) -> int:
        b = self.batch_size
        return self.n // b if self.drop_last else -(-self.n // b)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        draws = draw_crop_flip(self.n, self.generator) if self.augment == "crop-flip" else None
        sampler = (
            RandomSampler(self.dataset, generator=self.generator)  # type: ignore[arg-type]
            if self.shuffle
            else SequentialSampler(self.dataset)  # type: ignore[arg-type]
        )
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.workers,
            pin_memory=self.pin_memory,
            collate_fn=self.collate_fn,
            drop_last=self.drop_last,
            generator=self.generator,
        )
        batches = iter(loader)  # draws the worker base seed now, the permutation at next()
        return self._device_batches(batches, draws)

    def _device_batches(self, batches, draws) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        pos = 0
        for x, y in batches:
            x = to_unit(x.to(self.device, non_blocking=True))
            y = y.to(self.device, non_blocking=True)
            if draws is not None:
                window = slice(pos, pos + len(y))
                offsets, flips = draws[0][window].to(self.device), draws[1][window].to(self.device)
                index = torch.arange(len(y), device=self.device)
                size = (int(x.shape[-2]), int(x.shape[-1]))
                x = crop_flip(pad_images(x), index, offsets, flips, size)
            pos += len(y)
            yield x, y


RESIDENT_SHARE = 0.25  # of free device memory a resident training set may take


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether a training set of `nbytes` (padded for augmentation) fits the device budget:
    on a CPU the data is in host memory already; on CUDA a quarter of the free memory."""
    if torch.device(device).type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= RESIDENT_SHARE * free


def train_loader(
    splits: Any,
    mode: str,
    batch_size: int,
    *,
    device: torch.device,
    generator: torch.Generator,
    workers: int = -1,
    drop_last: bool = False,
) -> tuple[Any, str]:
    """The training loader of `splits` and a line saying which path was chosen and why.

    `mode`: "device" (resident), "stream", or "auto": a user dataset streams (its
    transforms run per sample, each epoch); a built-in split stays on the device when it
    fits (`fits_on_device`), else streams from host memory."""
    from advland.data.loader import DeviceLoader

    stream = splits.stream
    padded = 1.6 if splits.augment == "crop-flip" else 1.0
    if stream is None and mode != "stream":
        nbytes = int(splits.train.x.numel() * splits.train.x.element_size() * padded)
        if mode == "device" or fits_on_device(nbytes, device):
            why = "asked" if mode == "device" else f"{nbytes / 2**20:.0f} MiB fits on {device}"
            loader = DeviceLoader(
                splits.train,
                batch_size,
                device=device,
                shuffle=True,
                generator=generator,
                augment=splits.augment,
                drop_last=drop_last,
            )
            return loader, f"data: device-resident loader ({why})"
    if stream is None:
        stream = _split_stream(splits.train)
        why = "asked" if mode == "stream" else "too large for the device"
    else:
        why = "user dataset: per-sample transforms each epoch"
    n_workers = default_workers() if workers < 0 else workers
    if workers < 0 and stream.workers is not None:
        n_workers = stream.workers
    streamer = StreamLoader(
        stream.dataset,
        batch_size,
        device=device,
        generator=generator,
        workers=n_workers,
        pin_memory=stream.pin_memory or None,
        collate_fn=stream.collate_fn,
        augment=splits.augment,
        drop_last=drop_last,
    )
    return streamer, f"data: streaming DataLoader ({n_workers} workers; {why})"


def _split_stream(split: Split) -> Any:
    from advland.data.user import UserStream

    return UserStream(SplitDataset(split))
