"""Bring-your-own data: a folder of MNIST-format IDX files, or an .npz archive.

- Folder: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
  `t10k-labels-idx1-ubyte`, each optionally `.gz` (the `train-images.idx3-ubyte` spelling
  is accepted too).
- .npz: arrays `x_train`, `y_train`, `x_test`, `y_test` (loaded with allow_pickle=False).

Images are uint8, N x H x W or N x H x W x C (channels last, C <= 4); labels are integers
0..K-1. Nothing is checksummed (the data is the user's); everything else is validated and
a problem is reported with the key or file it concerns.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from advland.data.idx import read_idx
from advland.errors import UserError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
MAX_CHANNELS = 4


def is_byo_path(name: str) -> bool:
    path = Path(name).expanduser()
    return path.is_dir() or (path.suffix == ".npz" and path.exists())


def load_byo(name: str) -> dict[str, np.ndarray]:
    """-> {"x_train": N x C x H x W uint8, "y_train": int64, "x_test", "y_test"}."""
    path = Path(name).expanduser()
    arrays = _read_idx_dir(path) if path.is_dir() else _read_npz(path)
    return validate(arrays, str(path))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise UserError(
                    f"{path}: missing array(s) {', '.join(missing)} (found "
                    f"{', '.join(archive.files) or 'none'}); save with "
                    "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
                )
            return {k: archive[k] for k in NPZ_KEYS}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise UserError(f"{path}: not a readable .npz without pickled objects ({e})") from e


def _read_idx_dir(path: Path) -> dict[str, np.ndarray]:
    return {key: read_idx(_find_idx(path, stem)) for key, stem in IDX_STEMS.items()}


def _find_idx(folder: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx", 1)
    names = [stem, stem + ".gz", dotted, dotted + ".gz"]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise UserError(
        f"{folder}: no {stem} file (looked for {', '.join(names)}); a bring-your-own folder "
        "needs the four MNIST-format IDX files"
    )


def validate(arrays: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    x_train = _images(arrays["x_train"], "x_train", source)
    x_test = _images(arrays["x_test"], "x_test", source)
    y_train = _labels(arrays["y_train"], "y_train", len(x_train), source)
    y_test = _labels(arrays["y_test"], "y_test", len(x_test), source)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UserError(
            f"{source}: x_train images are C x H x W = {x_train.shape[1:]} but x_test images "
            f"are {x_test.shape[1:]}; both splits need the same image shape"
        )
    unseen = np.setdiff1d(np.unique(y_test), np.unique(y_train))
    if len(unseen):
        raise UserError(f"{source}: y_test has label(s) {unseen.tolist()} absent from y_train")
    if len(np.unique(y_train)) < 2:
        raise UserError(f"{source}: y_train has a single class; classification needs >= 2")
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _images(x: np.ndarray, key: str, source: str) -> np.ndarray:
    if x.dtype != np.uint8:
        raise UserError(
            f"{source}: {key} has dtype {x.dtype}, expected uint8 pixels 0-255; convert "
            "with (x * 255).round().astype(np.uint8) if it holds values in [0, 1]"
        )
    if x.ndim == 4 and x.shape[-1] > MAX_CHANNELS and x.shape[1] <= MAX_CHANNELS:
        raise UserError(
            f"{source}: {key} has shape {x.shape}, which looks channels-first; store "
            "N x H x W x C, e.g. x.transpose(0, 2, 3, 1)"
        )
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] > MAX_CHANNELS):
        raise UserError(
            f"{source}: {key} has shape {x.shape}, expected N x H x W or N x H x W x C "
            f"with C <= {MAX_CHANNELS}"
        )
    if x.shape[0] == 0 or min(x.shape) == 0:
        raise UserError(f"{source}: {key} is empty (shape {x.shape}); provide at least one image")
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x)


def _labels(y: np.ndarray, key: str, n: int, source: str) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise UserError(
            f"{source}: {key} has shape {y.shape} and dtype {y.dtype}; expected a 1-D "
            "integer array of class labels"
        )
    if len(y) != n:
        raise UserError(f"{source}: {key} has {len(y)} labels for {n} images; lengths must match")
    if y.min() < 0:
        raise UserError(f"{source}: {key} has negative label {int(y.min())}; use labels 0..K-1")
    return y.astype(np.int64)
