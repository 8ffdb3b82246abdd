"""Where dataset files live on disk: the data directory, read-only system copies, and the
error that tells the user how to provide a missing file.

Layout: `<data dir>/<dataset name>/<file name>`. The data directory is, in order, the
explicit `data_dir` argument, `$ADVLAND_DATA_DIR`, or `platformdirs.user_cache_dir("advland")`.
A `.gz` file may also be present decompressed (same name without `.gz`); such copies are
checked against the record's `raw_sha256`.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from advland.data.records import DatasetRecord, FileRecord
from advland.errors import UserError

DATA_DIR_ENV = "ADVLAND_DATA_DIR"


def resolve_data_dir(data_dir: str | Path = "") -> Path:
    env = os.environ.get(DATA_DIR_ENV, "")
    path = Path(data_dir or env or platformdirs.user_cache_dir("advland")).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(
            f"data directory '{path}' is a file, not a folder; pass a folder with --data-dir "
            f"or {DATA_DIR_ENV}"
        )
    return path


def dataset_dir(record: DatasetRecord, data_dir: str | Path = "") -> Path:
    return resolve_data_dir(data_dir) / record.name


def candidates(record: DatasetRecord, file: FileRecord, data_dir: str | Path = "") -> list[Path]:
    """Every place `file` may be found, in order of preference (cache first)."""
    names = [file.name]
    if file.name.endswith(".gz") and file.raw_sha256:
        names.append(file.name[: -len(".gz")])
    dirs = [dataset_dir(record, data_dir), *(Path(d) for d in record.system_dirs)]
    return [d / n for d in dirs for n in names]


def find_local(record: DatasetRecord, file: FileRecord, data_dir: str | Path = "") -> Path | None:
    for path in candidates(record, file, data_dir):
        if path.is_file():
            return path
    return None


def missing_error(
    record: DatasetRecord, file: FileRecord, data_dir: str | Path = "", why: str = ""
) -> UserError:
    """The one message for a file we do not have: name it and give both ways to provide it."""
    where = dataset_dir(record, data_dir)
    because = f" ({why})" if why else ""
    return UserError(
        f"{record.name}: missing file {file.name}{because}; run `advland data download "
        f"{record.name}` on a machine with internet access, or place {file.name} in {where}/"
    )
