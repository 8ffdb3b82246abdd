"""A full-scale item without its dataset stops before any run with one line (exit 2)."""

from __future__ import annotations

import socket

from advland.data.download import mirrors_env_var
from support import run_cli


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there: connection refused


def test_full_scale_without_cifar10_says_how_to_get_it(tmp_path, monkeypatch):
    out = tmp_path / "repro"
    monkeypatch.setenv("ADVLAND_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(mirrors_env_var("cifar10"), _closed_port_url())
    proc = run_cli("reproduce", "fig2", "--scale", "full", "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cifar10" in lines[0]
    assert "advland data download cifar10" in lines[0]
    assert not out.exists()
