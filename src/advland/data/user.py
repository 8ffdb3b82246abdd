"""The user's own data: any map-style `Dataset` (or a `DataLoader` over one) yielding
`(x, y)` with x a C x H x W image in [0,1] (float) or 0-255 (uint8) and y an integer label.

`user_splits` turns the training, validation and test data into `Splits`: validation and
test data are read once into tensors (they are evaluated many times); the training data
stays a dataset, read by the streaming loader each epoch with the user's transforms, unless
it is a `TensorDataset` (or `data.loader: device` is asked), which is read once and kept on
the device. Float images that lie exactly on the 1/255 grid (e.g. `uint8 / 255`, as
torchvision's ToTensor makes them) are stored as uint8: lossless, and a quarter the memory.

Everything is checked before a run writes anything: the shapes, the value range, the labels.
A data import path (`data.name: "my_pkg.data:build"`) names a callable returning the
datasets: a dict with `train` and optional `val`, `test`, `num_classes`, or a tuple
`(train, val, test)` / `(train, test)`, or a ready `Splits`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from advland.data.split_types import Split, Splits
from advland.errors import UserError
from advland.imports import resolve

PROBE = 8  # samples checked before a run starts


@dataclass(frozen=True)
class UserStream:
    """A training dataset read each epoch by the streaming loader, with the settings of
    the user's DataLoader (worker count, pinned memory, collate function) when one was given."""

    dataset: Dataset
    workers: int | None = None
    pin_memory: bool | None = None
    collate_fn: Any = None

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]


def unwrap(data: Any, what: str) -> UserStream:
    """A Dataset or DataLoader -> UserStream; anything else is a one-line error."""
    if isinstance(data, DataLoader):
        if isinstance(data.dataset, IterableDataset):
            raise UserError(
                f"{what}: an IterableDataset cannot be resumed exactly; pass a map-style Dataset"
            )
        return UserStream(data.dataset, data.num_workers, data.pin_memory, data.collate_fn)
    if isinstance(data, IterableDataset):
        raise UserError(
            f"{what}: an IterableDataset cannot be resumed exactly; pass a map-style Dataset"
        )
    if isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        return UserStream(data)
    raise UserError(
        f"{what} is a {type(data).__name__}; pass a map-style torch Dataset or a DataLoader "
        "yielding (x, y)"
    )


def _sample(ds: Dataset, i: int, what: str) -> tuple[torch.Tensor, int]:
    item = ds[i]
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise UserError(f"{what}[{i}] is a {type(item).__name__}, expected a pair (x, y)")
    x, y = item
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise UserError(f"{what}[{i}]: x is {shape}, expected a C x H x W image tensor")
    check_range(x, f"{what}[{i}]")
    try:
        label = int(y)
    except (TypeError, ValueError, RuntimeError):
        raise UserError(f"{what}[{i}]: y={y!r} is not an integer class label") from None
    if label < 0:
        raise UserError(f"{what}[{i}]: y={label} is negative; labels are 0..classes-1")
    return x, label


def check_range(x: torch.Tensor, what: str) -> None:
    if x.dtype == torch.uint8:
        return
    if not x.is_floating_point():
        raise UserError(f"{what}: images have dtype {x.dtype}; use float in [0,1] or uint8")
    if x.numel() and not (torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
        raise UserError(
            f"{what}: pixel values span [{x.min().item():.4g}, {x.max().item():.4g}], outside "
            "[0,1]; advland attacks in pixel space: drop Normalize (put it inside the model)"
        )


def probe(stream: UserStream, what: str) -> tuple[tuple[int, ...], int]:
    """Check the first samples; -> (C, H, W) and the largest label seen."""
    n = len(stream)
    if n == 0:
        raise UserError(f"{what} is empty")
    shape, top = None, 0
    for i in range(min(PROBE, n)):
        x, label = _sample(stream.dataset, i, what)
        if shape is not None and tuple(x.shape) != shape:
            raise UserError(f"{what}[{i}]: x is {tuple(x.shape)} but {what}[0] is {shape}")
        shape, top = tuple(x.shape), max(top, label)
    assert shape is not None
    return shape, top


def materialize(stream: UserStream, what: str) -> Split:
    """Read a whole dataset once into a Split (uint8 when lossless, else float32)."""
    xs, ys = [], []
    loader = DataLoader(stream.dataset, batch_size=256, num_workers=0, collate_fn=stream.collate_fn)
    for x, y in loader:
        check_range(x, what)
        xs.append(x)
        ys.append(torch.as_tensor(y).long())
    x = torch.cat(xs)
    y = torch.cat(ys)
    return Split(x=quantize(x), y=y, indices=torch.arange(len(y)))


def quantize(x: torch.Tensor) -> torch.Tensor:
    """uint8 when the float images are exactly k/255 (lossless), else float32."""
    if x.dtype == torch.uint8:
        return x
    x = x.float().contiguous()
    q = (x * 255).round().to(torch.uint8)
    return q if torch.equal(q.float().div(255), x) else x


def _empty(shape: tuple[int, ...]) -> Split:
    return Split(
        x=torch.empty(0, *shape, dtype=torch.uint8),
        y=torch.empty(0, dtype=torch.long),
        indices=torch.empty(0, dtype=torch.long),
    )


def user_splits(
    train: Any,
    val: Any = None,
    test: Any = None,
    *,
    name: str = "user",
    num_classes: int | None = None,
    resident: bool | None = None,
) -> Splits:
    """Splits of the user's data (see the module docstring). `resident`: True keeps the
    training set on the device, False streams it, None decides (TensorDataset -> device)."""
    stream = unwrap(train, "train_data")
    shape, top = probe(stream, "train_data")
    parts: dict[str, Split] = {}
    for key, data in (("val", val), ("test", test)):
        if data is None:
            parts[key] = _empty(shape)
            continue
        s = unwrap(data, f"{key}_data")
        other, _ = probe(s, f"{key}_data")
        if other != shape:
            raise UserError(f"{key}_data images are {other} but train_data images are {shape}")
        parts[key] = materialize(s, f"{key}_data")
    if resident is None:
        resident = isinstance(stream.dataset, TensorDataset) and stream.collate_fn is None
    train_split = materialize(stream, "train_data") if resident else _empty(shape)
    labels = [top, *(int(p.y.max()) for p in (*parts.values(), train_split) if len(p.y))]
    classes = num_classes or max(labels) + 1
    return Splits(
        name=name,
        num_classes=max(classes, 2),
        shape=shape,
        train=train_split,
        val=parts["val"],
        test=parts["test"],
        source="python",
        augment="none",
        stream=None if resident else stream,
    )


def load_import_path(name: str, kwargs: dict[str, Any], resident: bool | None) -> Splits:
    """`data.name: "my_pkg.data:build"`: call it and turn what it returns into Splits."""
    out = resolve(name, "data")(**kwargs)
    if isinstance(out, Splits):
        return out
    if isinstance(out, dict) and "train" in out:
        extra = set(out) - {"train", "val", "test", "num_classes"}
        if extra:
            raise UserError(f"data '{name}' returned unknown key(s) {sorted(extra)}")
        return user_splits(
            out["train"],
            out.get("val"),
            out.get("test"),
            name=name,
            num_classes=out.get("num_classes"),
            resident=resident,
        )
    if isinstance(out, (tuple, list)) and len(out) in (2, 3):
        val, test = (None, out[1]) if len(out) == 2 else (out[1], out[2])
        return user_splits(out[0], val, test, name=name, resident=resident)
    raise UserError(
        f"data '{name}' returned {type(out).__name__}; return a dict with 'train' (and 'val', "
        "'test'), a tuple (train, val, test), or Splits"
    )


def with_resident_train(splits: Splits) -> Splits:
    """The streamed training set read once into memory (for `data.loader: device`)."""
    if splits.stream is None:
        return splits
    return replace(splits, train=materialize(splits.stream, "train_data"), stream=None)


def as_tensors(
    data: Any, limit: int = 0, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x float32 in [0,1], y int64) from a Dataset, a DataLoader or an (x, y) pair, for the
    analysis tools (Hessian spectrum, similarity, surfaces, curves). `limit`: the first N."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
    else:
        stream = unwrap(data, "data")
        probe(stream, "data")
        split = materialize(stream, "data")
        x, y = split.x, split.y
    if limit:
        x, y = x[:limit], y[:limit]
    x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
    check_range(x, "data")
    return x.to(device or "cpu"), torch.as_tensor(y).long().to(device or "cpu")
