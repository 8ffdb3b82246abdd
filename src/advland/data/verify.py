"""Checksums of dataset files: `verify` for the CLI, `read_checked` for the loaders.

A file passes when its bytes match the SHA-256 of the original download, or, for IDX
files, when its decompressed content matches `raw_sha256` (a recompressed or gunzipped
copy of the same data, e.g. Debian's Fashion-MNIST).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import advland.data.mnist5k as mnist5k
from advland.data.local import candidates, find_local
from advland.data.records import DatasetRecord, FileRecord
from advland.data.registry import get_record
from advland.errors import UserError
from advland.fileio import sha256_file

GZIP_MAGIC = b"\x1f\x8b"


def gunzip_if_needed(data: bytes, what: str) -> bytes:
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{what}: corrupt gzip data ({e}); delete it and download it again") from e


def check_file(file: FileRecord, path: Path) -> dict:
    """Compare `path` with the record; returns path, expected, actual, ok, check."""
    actual = sha256_file(path)
    if actual == file.sha256:
        return _row(path, file.sha256, actual, "sha256")
    if file.raw_sha256:
        raw = hashlib.sha256(gunzip_if_needed(path.read_bytes(), str(path))).hexdigest()
        if raw == file.raw_sha256:
            return _row(path, file.raw_sha256, raw, "sha256 of decompressed content")
    return _row(path, file.sha256, actual, "sha256")


def read_checked(record: DatasetRecord, file: FileRecord, path: Path) -> bytes:
    """The (decompressed, for IDX) content of `path`, after checking it is the real file."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() == file.sha256:
        return gunzip_if_needed(data, str(path)) if record.kind == "idx" else data
    if file.raw_sha256:
        raw = gunzip_if_needed(data, str(path))
        if hashlib.sha256(raw).hexdigest() == file.raw_sha256:
            return raw
    raise UserError(
        f"{record.name}: {path} is not the original {file.name} (SHA-256 mismatch: corrupt, "
        f"truncated or a different file); delete it and run `advland data download {record.name}`"
    )


def verify(name: str, data_dir: str | Path = "") -> list[dict]:
    """Check every file of a registered dataset; missing files are reported, not raised."""
    record = get_record(name)
    if record.kind == "mnist5k":
        return [_verify_mnist5k()]
    rows = []
    for file in record.files:
        path = find_local(record, file, data_dir)
        if path is None:
            rows.append(_row(candidates(record, file, data_dir)[0], file.sha256, None, "sha256"))
        else:
            rows.append(check_file(file, path))
    return rows


def _verify_mnist5k() -> dict:
    # No pinned checksum for a file that ships inside a package; check its structure.
    path = mnist5k.locate_csv()
    actual = sha256_file(path)
    try:
        mnist5k.read_csv(path)
    except UserError as e:
        return {**_row(path, None, actual, "structure"), "ok": False, "error": str(e)}
    return {**_row(path, None, actual, "structure"), "ok": True}


def _row(path: Path, expected: str | None, actual: str | None, check: str) -> dict:
    ok = actual is not None and actual == expected
    return {"path": str(path), "expected": expected, "actual": actual, "ok": ok, "check": check}
