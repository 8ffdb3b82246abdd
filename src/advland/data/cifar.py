"""CIFAR-10, binary version (cifar-10-binary.tar.gz): fixed-size records, no pickle.

Each record is 1 label byte followed by 3,072 pixel bytes: the 1,024 red values of the
32 x 32 image in row-major order, then green, then blue, i.e. C x H x W already. The
archive holds `cifar-10-batches-bin/data_batch_{1..5}.bin` (training, 10,000 records
each) and `test_batch.bin`. Members are read straight from the tar stream; nothing in
the archive is ever extracted to a path on disk.
"""

from __future__ import annotations

import io
import tarfile
import zlib

import numpy as np

from advland.errors import UserError

SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32
NUM_CLASSES = 10
MEMBER_DIR = "cifar-10-batches-bin"
TRAIN_MEMBERS = tuple(f"{MEMBER_DIR}/data_batch_{i}.bin" for i in range(1, 6))
TEST_MEMBER = f"{MEMBER_DIR}/test_batch.bin"


def decode_records(data: bytes, what: str = "CIFAR-10 batch") -> tuple[np.ndarray, np.ndarray]:
    """Records -> (x uint8 N x 3 x 32 x 32, y int64 N)."""
    if len(data) == 0 or len(data) % RECORD_BYTES:
        raise UserError(
            f"{what}: {len(data)} bytes is not a positive multiple of the {RECORD_BYTES}-byte "
            "CIFAR-10 binary record; the archive is corrupt or not the binary version"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    y = records[:, 0].astype(np.int64)
    if y.max() >= NUM_CLASSES:
        raise UserError(f"{what}: label {int(y.max())} outside 0..9; the file is corrupt")
    x = records[:, 1:].reshape(-1, *SHAPE)
    return x, y


def read_tarball(data: bytes, what: str = "cifar-10-binary.tar.gz") -> tuple[np.ndarray, ...]:
    """Archive bytes -> (x_train, y_train, x_test, y_test)."""
    members = _read_members(data, what)
    parts = [decode_records(members[name], f"{what}:{name}") for name in TRAIN_MEMBERS]
    x_test, y_test = decode_records(members[TEST_MEMBER], f"{what}:{TEST_MEMBER}")
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return x_train, y_train, x_test, y_test


def _read_members(data: bytes, what: str) -> dict[str, bytes]:
    wanted = {*TRAIN_MEMBERS, TEST_MEMBER}
    found: dict[str, bytes] = {}
    try:
        # Sequential pass over the gzip stream: each member is read as the stream reaches it
        # (random access would re-decompress from the start for every member).
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    file = tar.extractfile(member)
                    if file is not None:  # always a reader for a regular file
                        found[name] = file.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise UserError(
            f"{what}: not a readable .tar.gz ({e}); delete it and download it again"
        ) from e
    missing = sorted(wanted - found.keys())
    if missing:
        raise UserError(
            f"{what}: archive lacks {', '.join(missing)}; expected the binary version "
            "cifar-10-binary.tar.gz (not the python or matlab one)"
        )
    return found
