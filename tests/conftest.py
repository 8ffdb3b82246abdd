"""Shared fixtures: tiny configs on the embedded mnist-5k digits, run in a temp folder."""

from __future__ import annotations

import pytest
import torch

from support import ROOT, TINY


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY)


@pytest.fixture(autouse=True)
def _chdir_root(monkeypatch):
    # Tests refer to configs/ relative to the repository root.
    monkeypatch.chdir(ROOT)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # The tests use tiny models: extra OpenMP threads only add synchronisation, and on a
    # shared 2-core machine their spin-waiting slowed small ops by 20-300x (measured).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
