"""DeviceLoader: determinism from the generator state, coverage, augmentation invariants."""

from __future__ import annotations

import pytest
import torch

from advland.data.augment import CROP_PAD, crop_flip, draw_crop_flip, pad_images
from advland.data.loader import DeviceLoader
from advland.data.splits import Split

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_split(n=50, shape=(3, 8, 8), seed=0) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    # Labels are the example ids so every yielded batch says where it came from.
    return Split(x=x, y=torch.arange(n), indices=torch.arange(n))


def epoch(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.cpu(), y.cpu()) for x, y in loader]


def same_epoch(a, b) -> bool:
    return len(a) == len(b) and all(
        torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("augment", ["none", "crop-flip"])
def test_epoch_is_reproduced_from_the_generator_state(augment):
    g = torch.Generator().manual_seed(123)
    loader = DeviceLoader(
        make_split(), 16, device=DEVICE, shuffle=True, generator=g, augment=augment
    )
    state = g.get_state()
    first = epoch(loader)
    second = epoch(loader)
    g.set_state(state)
    replay = epoch(loader)
    assert same_epoch(first, replay)
    assert not same_epoch(first, second)  # epochs differ


def test_all_epoch_randomness_is_drawn_at_iter_time():
    # A resume at the next epoch boundary must see the same generator state whether or not
    # the previous epoch was iterated to the end.
    g = torch.Generator().manual_seed(5)
    loader = DeviceLoader(
        make_split(), 8, device=DEVICE, shuffle=True, generator=g, augment="crop-flip"
    )
    start = g.get_state()
    epoch(loader)
    after_full = g.get_state()
    g.set_state(start)
    it = iter(loader)
    next(it)
    assert torch.equal(g.get_state(), after_full)


@pytest.mark.parametrize(
    ("n", "batch", "drop_last", "batches"),
    [(50, 16, False, 4), (50, 16, True, 3), (48, 16, False, 3), (0, 4, False, 0)],
)
def test_every_example_once_per_epoch(n, batch, drop_last, batches):
    g = torch.Generator().manual_seed(0)
    loader = DeviceLoader(
        make_split(n), batch, device=DEVICE, shuffle=True, generator=g, drop_last=drop_last
    )
    out = epoch(loader)
    assert len(loader) == len(out) == batches
    ids = torch.cat([y for _, y in out]) if out else torch.zeros(0, dtype=torch.int64)
    assert len(ids.unique()) == len(ids) == (batches * batch if drop_last else n)
    if not drop_last:
        assert sorted(ids.tolist()) == list(range(n))
    assert all(len(y) == batch for _, y in out[:-1])


def test_unshuffled_unaugmented_is_the_data_scaled():
    split = make_split(10)
    loader = DeviceLoader(split, 4, device=DEVICE, shuffle=False)
    xs, ys = zip(*epoch(loader), strict=True)
    assert torch.equal(torch.cat(ys), split.y)
    x = torch.cat(xs)
    assert x.dtype == torch.float32 and torch.equal(x, split.x.float() / 255)


def test_loader_keeps_data_and_batches_on_the_device():
    g = torch.Generator().manual_seed(0)
    loader = DeviceLoader(
        make_split(), 16, device=DEVICE, shuffle=True, generator=g, augment="crop-flip"
    )
    assert loader.x.device.type == DEVICE.type and loader.x.dtype == torch.uint8
    x, y = next(iter(loader))
    assert x.device.type == y.device.type == DEVICE.type
    assert y.dtype == torch.int64


def test_crop_flip_invariants_and_shifted_windows():
    split = make_split(64, shape=(3, 8, 8))
    g = torch.Generator().manual_seed(7)
    loader = DeviceLoader(split, 64, device=DEVICE, shuffle=True, generator=g, augment="crop-flip")
    x, y = epoch(loader)[0]
    assert x.shape == (64, 3, 8, 8) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    padded = pad_images(split.x, CROP_PAD)
    seen_offsets, seen_flips = set(), set()
    pixels = (x * 255).round().to(torch.uint8)
    for img, label in zip(pixels, y, strict=True):
        matches = [
            (top, left, flip)
            for top in range(2 * CROP_PAD + 1)
            for left in range(2 * CROP_PAD + 1)
            for flip in (False, True)
            if torch.equal(_window(padded[label], top, left, flip), img)
        ]
        assert matches, "an output is not a (flipped) window of its padded image"
        seen_offsets.add(matches[0][:2])
        seen_flips.add(matches[0][2])
    assert len(seen_offsets) > 10 and seen_flips == {False, True}


def _window(img, top, left, flip):
    window = img[:, top : top + 8, left : left + 8]
    return window.flip(-1) if flip else window


def test_batched_crop_flip_equals_per_image_reference():
    split = make_split(20, shape=(2, 5, 7))
    padded = pad_images(split.x)
    offsets, flips = draw_crop_flip(20, torch.Generator().manual_seed(1))
    index = torch.randperm(20, generator=torch.Generator().manual_seed(2))
    out = crop_flip(padded, index, offsets, flips, (5, 7))
    for b in range(20):
        top, left = offsets[b].tolist()
        ref = padded[index[b], :, top : top + 5, left : left + 7]
        assert torch.equal(out[b], ref.flip(-1) if flips[b] else ref)


def test_generator_is_required_for_randomness():
    with pytest.raises(ValueError, match="Generator"):
        DeviceLoader(make_split(), 4, device=DEVICE, shuffle=True)
    with pytest.raises(ValueError, match="Generator"):
        DeviceLoader(make_split(), 4, device=DEVICE, shuffle=False, augment="crop-flip")
    with pytest.raises(ValueError, match="augment"):
        DeviceLoader(make_split(), 4, device=DEVICE, shuffle=False, augment="cutout")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_epoch_matches_cpu_epoch():
    # The draws are made on the CPU generator, so the device must not change the epoch.
    out = {}
    for device in ("cpu", "cuda"):
        g = torch.Generator().manual_seed(11)
        loader = DeviceLoader(
            make_split(),
            16,
            device=torch.device(device),
            shuffle=True,
            generator=g,
            augment="crop-flip",
        )
        out[device] = epoch(loader)
    assert same_epoch(out["cpu"], out["cuda"])
