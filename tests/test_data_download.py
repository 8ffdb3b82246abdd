"""Download, checksum, resume and mirror fallback against a local HTTP server.

The server (127.0.0.1, ephemeral port, in a thread) serves files generated here in the
exact original formats: gzipped IDX for MNIST and a cifar-10-binary.tar.gz with the real
member layout. The registry entries are patched to the generated files' SHA-256.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import socket
import struct
import tarfile
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from advland.data import download, load_splits, verify
from advland.data.download import mirrors_env_var
from advland.data.records import CIFAR10, MNIST, FileRecord
from advland.data.registry import REGISTRY
from advland.data.splits import DataConfig
from advland.errors import UserError

# ---------------------------------------------------------------- local server


class RangeHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        rng = self.headers.get("Range")
        server.log.append((self.path, rng))
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and server.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
        if start >= len(data) and rng and server.honour_range:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.end_headers()
            return
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = server.cut.pop(self.path, None)  # simulate a dropped connection, once
        self.wfile.write(body[:cut])
        self.close_connection = True
        server.sent[self.path] = server.sent.get(self.path, 0) + len(body[:cut])

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.files, httpd.log, httpd.sent, httpd.cut, httpd.honour_range = {}, [], {}, {}, True
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there: connection refused


# ---------------------------------------------------------------- generated datasets


def idx_gz(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def file_record(name: str, data: bytes) -> FileRecord:
    raw = gzip.decompress(data) if name.endswith(".gz") and data[:2] == b"\x1f\x8b" else b""
    return FileRecord(
        name,
        hashlib.sha256(data).hexdigest(),
        len(data),
        hashlib.sha256(raw).hexdigest() if raw and not name.endswith(".tar.gz") else "",
    )


@pytest.fixture
def fake_mnist(monkeypatch):
    """Patch the 'mnist' record to a small generated dataset; returns arrays and files."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(40) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(20) * 3 % 10).astype(np.uint8),
    }
    files = {name: idx_gz(a) for name, a in arrays.items()}
    record = replace(
        MNIST,
        files=tuple(file_record(n, d) for n, d in files.items()),
        mirrors=(closed_port_url(),),
    )
    monkeypatch.setitem(REGISTRY, "mnist", record)
    monkeypatch.delenv(mirrors_env_var("mnist"), raising=False)
    return arrays, files


def serve(server, prefix: str, files: dict[str, bytes]) -> str:
    for name, data in files.items():
        server.files[f"/{prefix}/{name}"] = data
    return f"{server.base}/{prefix}/"


# ---------------------------------------------------------------- tests


def test_download_verifies_and_decodes(server, fake_mnist, tmp_path):
    arrays, files = fake_mnist
    base = serve(server, "m", files)
    paths = download("mnist", tmp_path, mirrors=[base])
    assert [p.name for p in paths] == list(files)
    assert all(p.read_bytes() == files[p.name] for p in paths)
    assert not list((tmp_path / "mnist").glob("*.part"))
    assert all(row["ok"] for row in verify("mnist", tmp_path))

    splits = load_splits(DataConfig("mnist", data_dir=str(tmp_path), val_size=0, download=False))
    assert splits.train.x.shape == (40, 1, 28, 28) and splits.train.x.dtype == torch.uint8
    np.testing.assert_array_equal(
        splits.train.x[:, 0].numpy(), arrays["train-images-idx3-ubyte.gz"]
    )
    np.testing.assert_array_equal(splits.test.y.numpy(), arrays["t10k-labels-idx1-ubyte.gz"])
    assert splits.train.y.dtype == torch.int64 and splits.augment == "none"
    assert splits.source == str(tmp_path / "mnist")


def test_load_splits_downloads_through_env_mirror(server, fake_mnist, tmp_path, monkeypatch):
    _, files = fake_mnist
    monkeypatch.setenv(
        mirrors_env_var("mnist"), f"{closed_port_url()}, {serve(server, 'e', files)}"
    )
    splits = load_splits(DataConfig("mnist", data_dir=str(tmp_path), val_size=10))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (30, 10, 20)
    assert "downloaded from" in splits.source and server.base in splits.source


def test_checksum_failure_leaves_nothing(server, fake_mnist, tmp_path):
    _, files = fake_mnist
    tampered = dict(files)
    name = "train-images-idx3-ubyte.gz"
    tampered[name] = files[name][:-1] + bytes([files[name][-1] ^ 1])  # same size, one bit off
    base = serve(server, "t", tampered)
    with pytest.raises(UserError, match=f"missing file {name}.*checksum mismatch") as info:
        download("mnist", tmp_path, mirrors=[base])
    assert "advland data download mnist" in str(info.value)
    assert list((tmp_path / "mnist").iterdir()) == []  # no final file, no .part


def test_resume_partial_download_with_range(server, fake_mnist, tmp_path):
    _, files = fake_mnist
    name = "train-images-idx3-ubyte.gz"
    data = files[name]
    half = len(data) // 2
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / f"{name}.part").write_bytes(data[:half])
    base = serve(server, "r", files)
    download("mnist", tmp_path, mirrors=[base])
    assert (f"/r/{name}", f"bytes={half}-") in server.log
    assert server.sent[f"/r/{name}"] == len(data) - half  # only the missing half travelled
    assert (tmp_path / "mnist" / name).read_bytes() == data
    assert not (tmp_path / "mnist" / f"{name}.part").exists()


def test_dropped_connection_keeps_the_prefix_and_resumes(server, fake_mnist, tmp_path):
    _, files = fake_mnist
    name = "train-images-idx3-ubyte.gz"
    half = len(files[name]) // 2
    first, second = serve(server, "a", files), serve(server, "b", files)
    server.cut[f"/a/{name}"] = half
    download("mnist", tmp_path, mirrors=[first, second])
    assert (f"/b/{name}", f"bytes={half}-") in server.log  # second mirror continued the prefix
    assert server.sent[f"/a/{name}"] + server.sent[f"/b/{name}"] == len(files[name])
    assert (tmp_path / "mnist" / name).read_bytes() == files[name]


def test_unsatisfiable_range_restarts_and_falls_back(server, fake_mnist, tmp_path):
    # A short (broken) first mirror: the kept prefix is longer than what it holds (416),
    # a fresh download from it is incomplete, the second mirror finishes the job.
    _, files = fake_mnist
    name = "train-images-idx3-ubyte.gz"
    data = files[name]
    half = len(data) // 2
    short = serve(server, "short", {**files, name: data[:half]})
    good = serve(server, "good", files)
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / f"{name}.part").write_bytes(data[: half + 10])
    download("mnist", tmp_path, mirrors=[short, good])
    tries = [(path, rng) for path, rng in server.log if path.endswith(name)]
    assert tries == [
        (f"/short/{name}", f"bytes={half + 10}-"),
        (f"/short/{name}", None),
        (f"/good/{name}", f"bytes={half}-"),
    ]
    assert (tmp_path / "mnist" / name).read_bytes() == data


def test_download_replaces_a_corrupt_cached_file(server, fake_mnist, tmp_path):
    _, files = fake_mnist
    name = "t10k-labels-idx1-ubyte.gz"
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / name).write_bytes(b"corrupt")
    download("mnist", tmp_path, mirrors=[serve(server, "fix", files)])
    assert (tmp_path / "mnist" / name).read_bytes() == files[name]


def test_server_ignoring_range_restarts_from_zero(server, fake_mnist, tmp_path):
    _, files = fake_mnist
    name = "train-labels-idx1-ubyte.gz"
    server.honour_range = False
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / f"{name}.part").write_bytes(files[name][:10])
    download("mnist", tmp_path, mirrors=[serve(server, "n", files)])
    assert (tmp_path / "mnist" / name).read_bytes() == files[name]


def test_bad_partial_file_is_retried_from_scratch(server, fake_mnist, tmp_path):
    _, files = fake_mnist
    name = "t10k-labels-idx1-ubyte.gz"
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / f"{name}.part").write_bytes(b"\xff" * 8)  # not a prefix of the file
    download("mnist", tmp_path, mirrors=[serve(server, "b", files)])
    assert (tmp_path / "mnist" / name).read_bytes() == files[name]
    assert [rng for path, rng in server.log if path.endswith(name)] == ["bytes=8-", None]


def test_fallback_to_second_mirror_after_404(server, fake_mnist, tmp_path):
    _, files = fake_mnist
    good = serve(server, "good", files)
    download("mnist", tmp_path, mirrors=[f"{server.base}/gone/", good])
    paths = [path for path, _ in server.log]
    assert "/gone/train-images-idx3-ubyte.gz" in paths
    assert "/good/train-images-idx3-ubyte.gz" in paths
    assert all(row["ok"] for row in verify("mnist", tmp_path))


def test_offline_error_names_file_and_both_remedies(fake_mnist, tmp_path):
    for allow in (True, False):
        cfg = DataConfig("mnist", data_dir=str(tmp_path), download=allow)
        with pytest.raises(UserError) as info:
            load_splits(cfg)
        message = str(info.value)
        assert "train-images-idx3-ubyte.gz" in message
        assert "advland data download mnist" in message
        assert str(tmp_path / "mnist") in message
        assert ("unreachable" in message) == allow
        assert "\n" not in message


def test_corrupt_cached_file_is_reported_at_load(fake_mnist, tmp_path):
    _, files = fake_mnist
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(UserError, match=r"t10k-images-idx3-ubyte\.gz is not the original"):
        load_splits(DataConfig("mnist", data_dir=str(tmp_path), download=False))
    rows = verify("mnist", tmp_path)
    assert [row["ok"] for row in rows] == [True, True, False, True]


def test_uncompressed_copy_is_accepted_via_raw_checksum(fake_mnist, tmp_path):
    _, files = fake_mnist
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, data in files.items():
        (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    splits = load_splits(DataConfig("mnist", data_dir=str(tmp_path), val_size=0, download=False))
    assert len(splits.train) == 40
    assert all(row["ok"] for row in verify("mnist", tmp_path))


def cifar_tarball(x_train, y_train, x_test, y_test) -> bytes:
    def records(x, y):
        return b"".join(
            bytes([int(label)]) + img.tobytes() for img, label in zip(x, y, strict=True)
        )

    members = {"cifar-10-batches-bin/batches.meta.txt": b"airplane\nautomobile\n"}
    for i, chunk in enumerate(np.array_split(np.arange(len(y_train)), 5), start=1):
        members[f"cifar-10-batches-bin/data_batch_{i}.bin"] = records(
            x_train[chunk], y_train[chunk]
        )
    members["cifar-10-batches-bin/test_batch.bin"] = records(x_test, y_test)
    members["cifar-10-batches-bin/readme.html"] = b"<html></html>"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        dir_info = tarfile.TarInfo("cifar-10-batches-bin")
        dir_info.type = tarfile.DIRTYPE
        tar.addfile(dir_info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_cifar_binary_tarball_download_and_decode(server, tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, (25, 3, 32, 32), dtype=np.uint8)
    y_train = np.arange(25) % 10
    x_test = rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8)
    y_test = (np.arange(10) * 7) % 10
    data = cifar_tarball(x_train, y_train, x_test, y_test)
    record = replace(CIFAR10, files=(file_record("cifar-10-binary.tar.gz", data),))
    monkeypatch.setitem(REGISTRY, "cifar10", record)
    monkeypatch.setenv(
        mirrors_env_var("cifar10"), serve(server, "c", {"cifar-10-binary.tar.gz": data})
    )

    splits = load_splits(DataConfig("cifar10", data_dir=str(tmp_path), val_size=5))
    assert splits.shape == (3, 32, 32) and splits.augment == "crop-flip"
    order = torch.cat([splits.train.indices, splits.val.indices])
    x_all = torch.cat([splits.train.x, splits.val.x])
    np.testing.assert_array_equal(x_all.numpy(), x_train[order.numpy()])
    np.testing.assert_array_equal(splits.test.x.numpy(), x_test)
    np.testing.assert_array_equal(splits.test.y.numpy(), y_test)
    assert sorted(order.tolist()) == list(range(25))
    assert (tmp_path / "cifar10" / "cifar-10-binary.tar.gz").read_bytes() == data


def test_cli_download_and_verify(server, fake_mnist, tmp_path, monkeypatch, capsys):
    import argparse

    from advland.cli.data import add_parser

    _, files = fake_mnist
    monkeypatch.setenv(mirrors_env_var("mnist"), serve(server, "cli", files))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "download", "mnist", "--data-dir", str(tmp_path)])
    assert args.func(args) == 0
    args = parser.parse_args(["data", "--data-dir", str(tmp_path), "verify", "mnist"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.count("ok") >= 8 and str(tmp_path / "mnist") in out
