"""User-side code for the tests of the Python API and import paths: a model and datasets
the advland registry does not know, as a user's own package would define them.

Importable as `fixtures` (tests/ is on pytest's pythonpath) and as `tests.fixtures` from the
repository root (the import path the CLI and sweep tests use)."""

from __future__ import annotations

import os
import signal

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from advland.data import DataConfig, load_splits


def tiny_cnn(num_classes: int = 10, in_channels: int = 1, width: int = 4, **_) -> nn.Module:
    """A two-layer CNN; an import-path model (`model.name: tests.fixtures:tiny_cnn`)."""
    torch.manual_seed(0)
    return TinyCNN(num_classes, in_channels, width)


class TinyCNN(nn.Module):
    """A user-defined network: conv, pool, BatchNorm, linear head (any image size)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
        )
        self.head = nn.Linear(width * 16, num_classes)
        self.calls = 0
        # test-only: SIGKILL this process at the n-th forward call (a kill mid-epoch)
        self.kill_at = int(os.environ.get("FIT_KILL_AT_FORWARD", "0"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.kill_at and self.calls == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.head(self.features(x))


class Digits(Dataset):
    """Real MNIST digits (the embedded mnist-5k set) as float images in [0,1], with a
    random one-pixel shift drawn from torch's global RNG: a user transform."""

    def __init__(self, split: str = "train", n: int = 300, shift: bool = True):
        s = load_splits(DataConfig(name="mnist-5k", val_size=100, train_limit=n, test_limit=n))
        part = {"train": s.train, "val": s.val, "test": s.test}[split]
        self.x, self.y = part.x[:n], part.y[:n]
        self.shift = shift

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        x = self.x[i].float() / 255
        if self.shift:
            dx, dy = torch.randint(-1, 2, (2,)).tolist()
            x = torch.roll(x, shifts=(dy, dx), dims=(1, 2))
        return x, int(self.y[i])


def digits_tensors(split: str = "train", n: int = 300) -> TensorDataset:
    d = Digits(split, n, shift=False)
    return TensorDataset(d.x.float() / 255, d.y)


def build(n_train: int = 300, n_test: int = 100) -> dict:
    """An import-path dataset (`data.name: tests.fixtures:build`)."""
    return {
        "train": Digits("train", n_train),
        "val": Digits("val", 100, shift=False),
        "test": Digits("test", n_test, shift=False),
    }


def flat_model(**_) -> nn.Module:
    """A model whose output is not [N, classes] (for the error tests)."""
    return nn.Flatten(0)


def bad_range() -> dict:
    """Data scaled to [0, 255] as floats (Normalize-style mistakes; for the error tests)."""
    x = torch.rand(20, 1, 8, 8) * 255
    return {"train": TensorDataset(x, torch.arange(20) % 2)}
