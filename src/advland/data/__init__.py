"""Datasets for advland: records, download + verify, decoders, splits, a device loader.

Typical use::

    splits = load_splits(DataConfig(name="cifar10", val_size=1000))
    loader = DeviceLoader(splits.train, 128, device=device, shuffle=True,
                          generator=torch.Generator().manual_seed(0), augment=splits.augment)
"""

from __future__ import annotations

from advland.data.download import download, ensure_files, mirrors_env_var
from advland.data.loader import DeviceLoader
from advland.data.registry import dataset_names, get_record
from advland.data.sources import list_datasets, load_raw
from advland.data.splits import DataConfig, Split, Splits, load_splits, resolve_augment
from advland.data.verify import verify

__all__ = [
    "DataConfig",
    "DeviceLoader",
    "Split",
    "Splits",
    "dataset_names",
    "download",
    "ensure_files",
    "get_record",
    "list_datasets",
    "load_raw",
    "load_splits",
    "mirrors_env_var",
    "resolve_augment",
    "verify",
]
