"""DataConfig -> Splits: train / validation / test tensors with provenance.

The validation split is a stratified hold-out of the *training* split (seeded by
`val_seed`); the test split is only for final numbers. Order of operations, each step
stratified:

1. hold out `val_size` training images (generator seeded with `val_seed`);
2. if `train_limit`, keep that many of the remaining training images (same generator,
   drawn after step 1), so the validation set does not depend on `train_limit`;
3. if `test_limit`, keep that many test images, drawn from a generator with the fixed
   seed `TEST_SEED`: the test subset is the same whatever `val_seed`, so test numbers of
   different runs stay comparable.

`Split.indices` are positions in the source split (for mnist-5k: rows of the CSV file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from advland.data.augment import AUGMENTATIONS
from advland.data.sources import RawData, load_raw
from advland.data.split_types import Split, Splits
from advland.data.stratify import stratified_holdout, stratified_sample
from advland.data.user import load_import_path
from advland.errors import UserError
from advland.imports import is_import_path
from advland.validation import setting

TEST_SEED = 0
FIT_DATA = "<advland.fit>"  # data.name recorded by advland.fit: the data came from Python
AUGMENT_CHOICES = ("auto", *AUGMENTATIONS)


@dataclass(frozen=True)
class DataConfig:
    name: str = "mnist-5k"  # registered name, or a path to an IDX folder / .npz (bring-your-own)
    data_dir: str = ""  # "" -> $ADVLAND_DATA_DIR, else platformdirs.user_cache_dir("advland")
    val_size: int = setting(500, ge=0)  # images held out from training (seeded, stratified)
    val_seed: int = 0
    # "auto": crop-flip for 3 x 32 x 32 data, else none
    augment: str = setting("auto", choices=AUGMENT_CHOICES)
    train_limit: int = setting(0, ge=0)  # 0 = all; else a seeded stratified subset
    test_limit: int = setting(0, ge=0)  # same for the test split
    download: bool = True  # allow downloading missing files
    # "auto": the training set stays on the device when it fits, else a streaming DataLoader
    loader: str = setting("auto", choices=("auto", "device", "stream"))
    workers: int = setting(-1, ge=-1)  # streaming DataLoader workers (-1: up to 4)
    kwargs: dict[str, Any] = field(default_factory=dict)  # for an import-path data.name


def resolve_augment(cfg: DataConfig, shape) -> str:
    """ "auto" -> "crop-flip" for 3 x 32 x 32 images (CIFAR-style), else "none"."""
    if cfg.augment not in AUGMENT_CHOICES:
        raise UserError(f"augment '{cfg.augment}' unknown; use one of {', '.join(AUGMENT_CHOICES)}")
    if cfg.augment != "auto":
        return cfg.augment
    return "crop-flip" if tuple(shape)[-3:] == (3, 32, 32) else "none"


def load_splits(cfg: DataConfig) -> Splits:
    if cfg.name == FIT_DATA:
        raise UserError(
            "this run was trained by advland.fit on data given from Python; evaluate or "
            "analyse it from Python (advland.robust_evaluate on your model and data)"
        )
    if is_import_path(cfg.name):
        resident = {"auto": None, "device": True, "stream": False}[cfg.loader]
        return load_import_path(cfg.name, dict(cfg.kwargs), resident)
    _check_config(cfg)
    raw = load_raw(cfg.name, cfg.data_dir, download=cfg.download)
    y_train = torch.from_numpy(raw.y_train.astype(np.int64))
    y_test = torch.from_numpy(raw.y_test.astype(np.int64))
    _check_sizes(cfg, len(y_train), len(y_test))

    generator = torch.Generator().manual_seed(cfg.val_seed)
    train_pos, val_pos = stratified_holdout(y_train, cfg.val_size, generator)
    if cfg.train_limit:
        train_pos = train_pos[stratified_sample(y_train[train_pos], cfg.train_limit, generator)]
    test_pos = torch.arange(len(y_test))
    if cfg.test_limit:
        test_pos = stratified_sample(
            y_test, cfg.test_limit, torch.Generator().manual_seed(TEST_SEED)
        )

    shape = tuple(int(s) for s in raw.x_train.shape[1:])
    return Splits(
        name=cfg.name,
        num_classes=raw.num_classes,
        shape=shape,
        train=_take(raw, "train", train_pos),
        val=_take(raw, "train", val_pos),
        test=_take(raw, "test", test_pos),
        source=raw.source,
        augment=resolve_augment(cfg, shape),
    )


def _take(raw: RawData, split: str, positions: torch.Tensor) -> Split:
    pos = positions.numpy()
    x = getattr(raw, f"x_{split}")[pos]  # fancy indexing copies: a writable, contiguous array
    y = getattr(raw, f"y_{split}")[pos]
    index = getattr(raw, f"{split}_index")[pos]
    return Split(
        x=torch.from_numpy(np.ascontiguousarray(x)),
        y=torch.from_numpy(y.astype(np.int64)),
        indices=torch.from_numpy(index.astype(np.int64)),
    )


def _check_config(cfg: DataConfig) -> None:
    if not cfg.name:
        raise UserError("data name is empty; use a registered dataset name or a path")
    for key in ("val_size", "train_limit", "test_limit"):
        value = getattr(cfg, key)
        if not isinstance(value, int) or value < 0:
            raise UserError(f"data.{key} must be an integer >= 0, got {value!r}")
    resolve_augment(cfg, (1, 1, 1))  # validates the name early, before any download


def _check_sizes(cfg: DataConfig, n_train: int, n_test: int) -> None:
    if cfg.val_size >= n_train:
        raise UserError(
            f"data.val_size={cfg.val_size} leaves no training images ({cfg.name} has {n_train}); "
            f"use a value below {n_train}"
        )
    left = n_train - cfg.val_size
    if cfg.train_limit > left:
        raise UserError(
            f"data.train_limit={cfg.train_limit} exceeds the {left} training images left after "
            f"holding out val_size={cfg.val_size}; use 0 (all) or at most {left}"
        )
    if cfg.test_limit > n_test:
        raise UserError(
            f"data.test_limit={cfg.test_limit} exceeds the {n_test} test images of {cfg.name}; "
            f"use 0 (all) or at most {n_test}"
        )
