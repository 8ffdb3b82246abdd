"""The IDX format of the MNIST files (http://yann.lecun.com/exdb/mnist/).

Header: two zero bytes, a type byte (0x08 = unsigned byte; the only one image data uses),
the number of dimensions, then each dimension as a big-endian uint32. The body is the
array in C order. Images are N x H x W (or N x H x W x C), labels are N.
"""

from __future__ import annotations

import struct
from math import prod
from pathlib import Path

import numpy as np

from advland.data.verify import gunzip_if_needed
from advland.errors import UserError

UBYTE = 0x08


def decode_idx(data: bytes, what: str = "IDX data") -> np.ndarray:
    """Decode IDX bytes (already decompressed) into a read-only uint8 array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise UserError(
            f"{what}: not an IDX file (magic number {data[:4].hex() or 'missing'}, "
            "expected 0x000008NN); pass the MNIST-format file, gzipped or not"
        )
    dtype, ndim = data[2], data[3]
    if dtype != UBYTE:
        raise UserError(
            f"{what}: IDX element type 0x{dtype:02x} is not unsigned byte (0x08); "
            "store images and labels as uint8"
        )
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise UserError(f"{what}: truncated IDX header ({len(data)} bytes, {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    body = memoryview(data)[header:]
    if len(body) != prod(dims):
        raise UserError(
            f"{what}: IDX header says shape {dims} ({prod(dims)} bytes) but the file holds "
            f"{len(body)} bytes; the file is truncated or corrupt"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzipped or not (detected from the gzip magic bytes)."""
    path = Path(path)
    return decode_idx(gunzip_if_needed(path.read_bytes(), str(path)), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes of a uint8 array (to write bring-your-own data in the MNIST format)."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or array.ndim == 0:
        raise UserError(f"encode_idx needs a uint8 array with >= 1 dimension, got {array.dtype}")
    header = bytes([0, 0, UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()
