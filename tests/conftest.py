"""Shared fixtures: tiny configs on the embedded mnist-5k digits, run in a temp folder."""

from __future__ import annotations

import pytest

from support import ROOT, TINY


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY)


@pytest.fixture(autouse=True)
def _chdir_root(monkeypatch):
    # Tests refer to configs/ relative to the repository root.
    monkeypatch.chdir(ROOT)
