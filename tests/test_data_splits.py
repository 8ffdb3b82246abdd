"""Stratified subsets, validation hold-out, limits and augmentation resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from advland.data.splits import DataConfig, load_splits, resolve_augment
from advland.data.stratify import class_quotas, stratified_holdout, stratified_sample
from advland.errors import UserError


def test_class_quotas_largest_remainder_by_hand():
    # 10 of (5, 3, 2): exact shares 5, 3, 2.
    assert class_quotas(torch.tensor([5, 3, 2]), 10).tolist() == [5, 3, 2]
    # 4 of (5, 3, 2): shares 2.0, 1.2, 0.8 -> floors 2, 1, 0; one left goes to 0.8.
    assert class_quotas(torch.tensor([5, 3, 2]), 4).tolist() == [2, 1, 1]
    # 3 of (1, 1, 1, 1): equal remainders -> the lower labels first.
    assert class_quotas(torch.tensor([1, 1, 1, 1]), 3).tolist() == [1, 1, 1, 0]
    for n in range(0, 11):
        q = class_quotas(torch.tensor([5, 3, 2]), n)
        assert int(q.sum()) == n and (q <= torch.tensor([5, 3, 2])).all()


def test_stratified_sample_counts_order_and_seed():
    y = torch.arange(1000) % 10
    picked = stratified_sample(y, 200, torch.Generator().manual_seed(3))
    assert len(picked) == 200 and len(picked.unique()) == 200
    assert (picked.diff() > 0).all()  # sorted source order
    assert (y[picked].bincount(minlength=10) == 20).all()
    again = stratified_sample(y, 200, torch.Generator().manual_seed(3))
    other = stratified_sample(y, 200, torch.Generator().manual_seed(4))
    assert torch.equal(picked, again) and not torch.equal(picked, other)


def test_holdout_partitions_the_split():
    y = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    kept, held = stratified_holdout(y, 20, torch.Generator().manual_seed(0))
    assert sorted(torch.cat([kept, held]).tolist()) == list(range(100))
    assert y[held].bincount().tolist() == [12, 6, 2]


@pytest.fixture
def npz(tmp_path: Path) -> str:
    rng = np.random.default_rng(0)
    y_train = np.repeat(np.arange(4), [100, 60, 30, 10])  # imbalanced on purpose
    np.savez(
        tmp_path / "d.npz",
        x_train=rng.integers(0, 256, (200, 6, 6), dtype=np.uint8),
        y_train=y_train,
        x_test=rng.integers(0, 256, (80, 6, 6), dtype=np.uint8),
        y_test=np.arange(80) % 4,
    )
    return str(tmp_path / "d.npz")


def test_validation_is_stratified_disjoint_and_seeded(npz):
    a = load_splits(DataConfig(name=npz, val_size=20, val_seed=1))
    b = load_splits(DataConfig(name=npz, val_size=20, val_seed=1))
    c = load_splits(DataConfig(name=npz, val_size=20, val_seed=2))
    assert a.val.y.bincount().tolist() == [10, 6, 3, 1]
    assert len(a.train) == 180 and len(a.test) == 80
    assert set(a.train.indices.tolist()).isdisjoint(a.val.indices.tolist())
    assert torch.equal(a.val.indices, b.val.indices) and torch.equal(a.train.x, b.train.x)
    assert not torch.equal(a.val.indices, c.val.indices)
    # Provenance: indices point back into the source arrays.
    source = np.load(npz)
    np.testing.assert_array_equal(a.val.x[:, 0].numpy(), source["x_train"][a.val.indices.numpy()])
    np.testing.assert_array_equal(a.val.y.numpy(), source["y_train"][a.val.indices.numpy()])


def test_limits_keep_validation_fixed_and_test_independent_of_val_seed(npz):
    full = load_splits(DataConfig(name=npz, val_size=20))
    small = load_splits(DataConfig(name=npz, val_size=20, train_limit=90, test_limit=40))
    assert torch.equal(full.val.indices, small.val.indices)
    assert len(small.train) == 90 and len(small.test) == 40
    assert set(small.train.indices.tolist()) <= set(full.train.indices.tolist())
    assert small.train.y.bincount().tolist() == [45, 27, 14, 4]
    assert (small.test.y.bincount() == 10).all()
    other_seed = load_splits(DataConfig(name=npz, val_size=20, val_seed=9, test_limit=40))
    assert torch.equal(small.test.indices, other_seed.test.indices)


def test_val_size_zero_gives_an_empty_split(npz):
    splits = load_splits(DataConfig(name=npz, val_size=0))
    assert len(splits.val) == 0 and splits.val.x.shape == (0, 1, 6, 6)
    assert splits.val.x.dtype == torch.uint8 and len(splits.train) == 200


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"val_size": 200}, "val_size=200 leaves no training images"),
        ({"val_size": -1}, "val_size must be an integer >= 0"),
        ({"train_limit": 190}, "train_limit=190 exceeds the 180"),
        ({"test_limit": 81}, "test_limit=81 exceeds the 80"),
        ({"augment": "mixup"}, "augment 'mixup' unknown"),
    ],
)
def test_config_errors_restate_the_value(npz, overrides, message):
    cfg = DataConfig(name=npz, **{"val_size": 20, **overrides})
    with pytest.raises(UserError, match=message):
        load_splits(cfg)


def test_resolve_augment():
    assert resolve_augment(DataConfig(), (3, 32, 32)) == "crop-flip"
    assert resolve_augment(DataConfig(), torch.Size([1, 28, 28])) == "none"
    assert resolve_augment(DataConfig(), (3, 28, 28)) == "none"
    assert resolve_augment(DataConfig(augment="crop-flip"), (1, 28, 28)) == "crop-flip"
    assert resolve_augment(DataConfig(augment="none"), (3, 32, 32)) == "none"
