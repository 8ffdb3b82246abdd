"""Decoders (IDX, CIFAR binary) and bring-your-own validation, on hand-built bytes."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from advland.data import cifar
from advland.data.byo import load_byo
from advland.data.idx import decode_idx, encode_idx, read_idx
from advland.data.splits import DataConfig, load_splits
from advland.errors import UserError


def idx_bytes(array: np.ndarray) -> bytes:
    # Written independently of advland.data.idx.encode_idx, straight from the format spec.
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def cifar_record(label: int, red: int, green: int, blue: int) -> bytes:
    return bytes([label]) + bytes([red]) * 1024 + bytes([green]) * 1024 + bytes([blue]) * 1024


# ---------------------------------------------------------------- IDX


def test_idx_round_trip_of_known_pixels():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = idx_bytes(images)
    assert data[:4] == b"\x00\x00\x08\x03"
    decoded = decode_idx(data)
    assert decoded.shape == (2, 3, 4) and decoded.dtype == np.uint8
    assert decoded[1, 2, 3] == 23 and decoded[0, 0, 1] == 1  # row-major (C) order
    assert encode_idx(images) == data


def test_read_idx_detects_gzip(tmp_path: Path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    (tmp_path / "plain").write_bytes(idx_bytes(labels))
    (tmp_path / "packed").write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain"), labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed"), labels)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "not an IDX file"),
        (b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\x00\x00\x00\x00", "not unsigned byte"),
        (b"\x00\x00\x08\x02" + struct.pack(">II", 2, 2) + b"\x00\x00\x00", "truncated or corrupt"),
        (b"\x00\x00", "not an IDX file"),
    ],
)
def test_idx_rejects_bad_headers(data, message):
    with pytest.raises(UserError, match=message):
        decode_idx(data, "f")


# ---------------------------------------------------------------- CIFAR binary


def test_cifar_records_channel_order_and_labels():
    data = cifar_record(7, 10, 20, 30) + cifar_record(2, 1, 2, 3)
    x, y = cifar.decode_records(data)
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.uint8
    assert y.tolist() == [7, 2] and y.dtype == np.int64
    assert (x[0, 0] == 10).all() and (x[0, 1] == 20).all() and (x[0, 2] == 30).all()
    # Within a channel the 1024 bytes are row-major: byte 1 + 32*r + c is pixel (r, c).
    raw = bytearray(cifar_record(0, 0, 0, 0))
    raw[1 + 32 * 5 + 9] = 200
    x, _ = cifar.decode_records(bytes(raw))
    assert x[0, 0, 5, 9] == 200 and int(x.sum()) == 200


def test_cifar_rejects_bad_records():
    with pytest.raises(UserError, match="multiple"):
        cifar.decode_records(b"\x00" * 3000)
    with pytest.raises(UserError, match="label 12"):
        cifar.decode_records(cifar_record(12, 0, 0, 0))


def _tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_cifar_tarball_members_and_order():
    members = {"cifar-10-batches-bin/batches.meta.txt": b"airplane\n"}
    for i in range(1, 6):
        members[f"./cifar-10-batches-bin/data_batch_{i}.bin"] = cifar_record(i, i, 0, 0) * 2
    members["cifar-10-batches-bin/test_batch.bin"] = cifar_record(9, 99, 0, 0)
    x_train, y_train, x_test, y_test = cifar.read_tarball(_tarball(members))
    assert y_train.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # batches 1..5 in order
    assert x_train[:, 0, 0, 0].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert y_test.tolist() == [9] and x_test[0, 0, 31, 31] == 99


def test_cifar_tarball_without_binary_members_is_a_user_error():
    data = _tarball({"cifar-10-batches-py/data_batch_1": b"pickle"})
    with pytest.raises(UserError, match="binary version"):
        cifar.read_tarball(data)
    with pytest.raises(UserError, match="readable"):
        cifar.read_tarball(b"not a tarball")


# ---------------------------------------------------------------- bring your own


def _arrays(n_train=20, n_test=10, shape=(6, 5), classes=3, channels=None):
    rng = np.random.default_rng(0)
    extra = (channels,) if channels else ()
    return {
        "x_train": rng.integers(0, 256, (n_train, *shape, *extra), dtype=np.uint8),
        "y_train": np.arange(n_train) % classes,
        "x_test": rng.integers(0, 256, (n_test, *shape, *extra), dtype=np.uint8),
        "y_test": np.arange(n_test) % classes,
    }


def test_byo_npz_grayscale_and_channels_last(tmp_path: Path):
    gray = _arrays()
    np.savez(tmp_path / "g.npz", **gray)
    out = load_byo(str(tmp_path / "g.npz"))
    assert out["x_train"].shape == (20, 1, 6, 5)
    np.testing.assert_array_equal(out["x_train"][:, 0], gray["x_train"])
    rgb = _arrays(channels=3)
    np.savez(tmp_path / "c.npz", **rgb)
    out = load_byo(str(tmp_path / "c.npz"))
    assert out["x_test"].shape == (10, 3, 6, 5) and out["y_test"].dtype == np.int64
    np.testing.assert_array_equal(out["x_test"][4, 2, 1, 3], rgb["x_test"][4, 1, 3, 2])


def test_byo_npz_through_load_splits(tmp_path: Path):
    np.savez(tmp_path / "d.npz", **_arrays(n_train=30, channels=3, shape=(32, 32)))
    splits = load_splits(DataConfig(name=str(tmp_path / "d.npz"), val_size=6))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (24, 6, 10)
    assert splits.num_classes == 3 and splits.shape == (3, 32, 32)
    assert splits.augment == "crop-flip"  # auto: 3 x 32 x 32
    assert str(tmp_path) in splits.source


def _bad(key, value):
    arrays = _arrays()
    arrays[key] = value
    return arrays


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({k: v for k, v in _arrays().items() if k != "y_test"}, "missing array.*y_test"),
        (_bad("x_train", np.zeros((20, 6, 5), np.float32)), "x_train has dtype float32"),
        (_bad("y_train", np.zeros(19, np.int64)), "y_train has 19 labels for 20 images"),
        (_bad("y_train", np.full(20, -1)), "negative label"),
        (_bad("y_test", np.zeros(10, np.float64)), "y_test .*1-D integer"),
        (_bad("x_test", np.zeros((0, 6, 5), np.uint8)), "x_test is empty"),
        (_bad("x_train", np.zeros((20, 3, 6, 5), np.uint8)), "channels-first"),
        (_bad("x_test", np.zeros((10, 7, 5), np.uint8)), "same image shape"),
        (_bad("y_test", np.full(10, 5)), r"label\(s\) \[5\] absent from y_train"),
        ({**_bad("y_train", np.zeros(20, int)), "y_test": np.zeros(10, int)}, "single class"),
    ],
)
def test_byo_npz_errors_name_the_problem(tmp_path: Path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserError, match=message):
        load_byo(str(tmp_path / "bad.npz"))


def test_byo_npz_with_pickled_objects_is_refused(tmp_path: Path):
    arrays = _bad("y_test", np.array([{"a": 1}] * 10, dtype=object))
    np.savez(tmp_path / "obj.npz", **arrays)
    with pytest.raises(UserError, match="pickle"):
        load_byo(str(tmp_path / "obj.npz"))


def test_byo_idx_folder_gz_or_not(tmp_path: Path):
    arrays = _arrays(shape=(28, 28))
    names = {
        "x_train": "train-images-idx3-ubyte.gz",
        "y_train": "train-labels-idx1-ubyte",
        "x_test": "t10k-images.idx3-ubyte",
        "y_test": "t10k-labels-idx1-ubyte.gz",
    }
    for key, name in names.items():
        data = idx_bytes(arrays[key])
        (tmp_path / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    out = load_byo(str(tmp_path))
    np.testing.assert_array_equal(out["x_train"][:, 0], arrays["x_train"])
    np.testing.assert_array_equal(out["y_test"], arrays["y_test"])
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UserError, match="no t10k-labels-idx1-ubyte file"):
        load_byo(str(tmp_path))


def test_missing_byo_path_is_named(tmp_path: Path):
    with pytest.raises(UserError, match="does not exist"):
        load_splits(DataConfig(name=str(tmp_path / "nothing.npz")))


def test_unknown_name_lists_the_choices():
    with pytest.raises(UserError, match=r"unknown dataset 'nope'.*mnist, fashion-mnist, cifar10"):
        load_splits(DataConfig(name="nope"))


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(), reason="Debian dataset-fashion-mnist not installed"
)
def test_real_fashion_mnist_from_debian(tmp_path: Path):
    # Debian re-gzips the files: accepted through the SHA-256 of the decompressed content.
    splits = load_splits(DataConfig("fashion-mnist", data_dir=str(tmp_path), download=False))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (59_500, 500, 10_000)
    assert splits.source == str(DEBIAN_FASHION) and splits.augment == "none"
    assert splits.train.x.shape[1:] == (1, 28, 28)
    assert (splits.test.y.bincount() == 1000).all()  # Fashion-MNIST test: 1000 per class
    assert (splits.val.y.bincount() == 50).all()
