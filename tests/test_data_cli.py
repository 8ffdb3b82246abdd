"""`advland data list | download | verify` wiring (downloads are tested with a local server
in test_data_download.py)."""

from __future__ import annotations

import argparse
import socket

import pytest

from advland.cli.data import add_parser
from advland.data.download import mirrors_env_var
from advland.errors import UserError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="advland")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_list_prints_every_dataset(tmp_path, capsys):
    args = parse(["data", "list", "--data-dir", str(tmp_path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "fashion-mnist", "cifar10", "mnist-5k"):
        assert name in out
    assert "3x32x32" in out and "170.1 MB" in out
    assert str(tmp_path / "mnist") in out  # where a missing dataset is expected


def test_verify_missing_files_exit_1(tmp_path, capsys):
    args = parse(["data", "--data-dir", str(tmp_path), "verify", "cifar10"])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert (
        "MISSING" in out
        and "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd" in out
    )


def test_download_offline_raises_the_user_error(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(mirrors_env_var("cifar10"), f"http://127.0.0.1:{port}/")
    args = parse(["data", "download", "cifar10", "--data-dir", str(tmp_path)])
    expected = r"cifar-10-binary\.tar\.gz.*place cifar-10-binary\.tar\.gz in"
    with pytest.raises(UserError, match=expected):
        args.func(args)


def test_download_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit):
        parse(["data", "download", "imagenet"])
    assert "invalid choice" in capsys.readouterr().err
