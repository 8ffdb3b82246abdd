"""Batched augmentation on the device of the data: pad-4 random crop + horizontal flip.

The whole dataset is zero-padded once (`pad_images`); a crop is then a single flat gather
with index arithmetic over the batch, and the flip is folded into the same gather by choosing
the column indices with `torch.where` (so no flipped copy of the batch is ever made).
The random parameters are drawn on the CPU from an explicit `torch.Generator` for a whole
epoch at once (`draw_crop_flip`), then moved to the device in one copy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("none", "crop-flip")
CROP_PAD = 4  # pixels of zero padding around each side (the standard CIFAR recipe)


def pad_images(x: torch.Tensor, pad: int = CROP_PAD) -> torch.Tensor:
    """Zero-pad N x C x H x W images on all four sides (done once per loader)."""
    return F.pad(x, (pad, pad, pad, pad))


def draw_crop_flip(
    n: int, generator: torch.Generator, pad: int = CROP_PAD
) -> tuple[torch.Tensor, torch.Tensor]:
    """CPU draws for n images, offsets first, then flips: (offsets n x 2 in [0, 2 pad], flips n)."""
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.randint(0, 2, (n,), generator=generator).bool()
    return offsets, flips


def crop_flip(
    padded: torch.Tensor,
    index: torch.Tensor,
    offsets: torch.Tensor,
    flips: torch.Tensor,
    size: tuple[int, int],
) -> torch.Tensor:
    """Images `index` of `padded`, each cut at its (top, left) offset and maybe mirrored.

    padded: N x C x (H + 2p) x (W + 2p); index, offsets, flips: batch-sized, same device.
    Returns B x C x H x W with out[b] = window of padded[index[b]] (columns reversed if
    flips[b]).
    """
    h, w = size
    c, hp, wp = padded.shape[1:]
    dev = padded.device
    rows = offsets[:, :1] + torch.arange(h, device=dev)  # B x H
    cols_fwd = offsets[:, 1:] + torch.arange(w, device=dev)  # B x W
    cols = torch.where(flips[:, None], cols_fwd.flip(1), cols_fwd)
    # One flat gather: linear index = image * C*Hp*Wp + channel * Hp*Wp + row * Wp + col
    # (cheaper than four broadcast index tensors in advanced indexing).
    linear = (
        (index * (c * hp * wp))[:, None, None, None]
        + (torch.arange(c, device=dev) * (hp * wp))[None, :, None, None]
        + (rows * wp)[:, None, :, None]
        + cols[:, None, None, :]
    )
    return padded.reshape(-1)[linear]
