"""The streaming data path: a torch DataLoader whose epoch is a pure function of the run's
generator state (so resume is exact), the automatic choice between it and the
device-resident loader, and the config's non-UTF-8 error."""

from __future__ import annotations

import pytest
import torch

from advland.config import build_config
from advland.data import DeviceLoader
from advland.data.split_types import Split, Splits
from advland.data.stream import SplitDataset, StreamLoader, train_loader
from advland.data.user import user_splits
from advland.errors import UserError
from fixtures import Digits, digits_tensors
from support import run_cli


def _split(n=50):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return Split(x, torch.randint(0, 10, (n,), generator=g), torch.arange(n))


def _epoch(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


@pytest.mark.parametrize("workers", [0, 2])
def test_stream_epoch_replays_from_the_generator_state(workers):
    gen = torch.Generator().manual_seed(3)
    ds = Digits("train", 40)  # a random shift per sample from torch's RNG (in the workers)
    loader = StreamLoader(ds, 16, device=torch.device("cpu"), generator=gen, workers=workers)
    state, rng = gen.get_state(), torch.get_rng_state()
    first = _epoch(loader)
    second = _epoch(loader)
    gen.set_state(state)
    torch.set_rng_state(rng)
    again = _epoch(loader)
    assert [len(y) for _, y in first] == [16, 16, 8]
    for (xa, ya), (xb, yb) in zip(first, again, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(first, second, strict=True))


def test_stream_crop_flip_matches_the_device_loader_semantics():
    split = _split()
    g = torch.Generator().manual_seed(5)
    stream = StreamLoader(
        SplitDataset(split),
        50,
        device=torch.device("cpu"),
        generator=g,
        shuffle=False,
        augment="crop-flip",
    )
    ((x, y),) = list(stream)
    g2 = torch.Generator().manual_seed(5)
    dev = DeviceLoader(
        split, 50, device=torch.device("cpu"), shuffle=False, generator=g2, augment="crop-flip"
    )
    ((xd, yd),) = list(dev)
    assert torch.equal(x, xd) and torch.equal(y, yd)  # same draws, same crops and flips


def test_auto_choice_is_printed_and_follows_the_data():
    gen = torch.Generator()
    builtin = Splits("s", 10, (3, 32, 32), _split(), _split(), _split(), "x", "none")
    loader, line = train_loader(builtin, "auto", 10, device=torch.device("cpu"), generator=gen)
    assert isinstance(loader, DeviceLoader) and "device-resident" in line
    loader, line = train_loader(
        builtin, "stream", 10, device=torch.device("cpu"), generator=gen, workers=0
    )
    assert isinstance(loader, StreamLoader) and "streaming" in line and "asked" in line
    user = user_splits(Digits("train", 20))
    loader, line = train_loader(user, "auto", 10, device=torch.device("cpu"), generator=gen)
    assert isinstance(loader, StreamLoader) and "user dataset" in line
    resident = user_splits(digits_tensors("train", 20))
    assert resident.stream is None and resident.train.x.dtype == torch.uint8  # k/255: lossless


def test_config_that_is_not_utf8_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"train:\n  epochs: \xff\xfe\x00\x01\n")
    with pytest.raises(UserError, match="not UTF-8"):
        build_config(bad)
    proc = run_cli("train", "--config", str(bad), "--out", str(tmp_path / "run"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "not UTF-8" in proc.stderr and not (tmp_path / "run").exists()


def test_builtin_config_names_resolve():
    assert build_config("mnist-lenet-cosine").eps_schedule.kind == "cosine"
    assert build_config("configs/quickstart.yaml").name == build_config("quickstart").name
    with pytest.raises(UserError, match="built-in config name"):
        build_config("no-such-config")
