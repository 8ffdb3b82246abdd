"""Registered dataset names -> records (the string edge of the data subsystem).

Anything that is not a registered name is treated as a path to bring-your-own data
(see `advland.data.byo`).
"""

from __future__ import annotations

from advland.data.records import CIFAR10, FASHION_MNIST, MNIST, MNIST_5K, DatasetRecord
from advland.errors import UserError

REGISTRY: dict[str, DatasetRecord] = {r.name: r for r in (MNIST, FASHION_MNIST, CIFAR10, MNIST_5K)}


def dataset_names() -> list[str]:
    return list(REGISTRY)


def is_registered(name: str) -> bool:
    return name in REGISTRY


def get_record(name: str) -> DatasetRecord:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise UserError(
            f"unknown dataset '{name}'; use one of {known}, or a path to a folder of IDX "
            "files or an .npz with x_train, y_train, x_test, y_test"
        ) from None
