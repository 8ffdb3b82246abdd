"""Soak: many short trainings and evaluations in one process leak no memory, no file
descriptors and no autograd graphs (tensors reachable from gc)."""

from __future__ import annotations

import gc
import os
import shutil
import warnings
from pathlib import Path

import torch

from advland import build_config, evaluate, train
from support import TINY

ROUNDS, WARMUP = 10, 3


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _tensors() -> tuple[int, int]:
    """(tensors reachable from gc, of which carry an autograd graph)."""
    gc.collect()
    with warnings.catch_warnings():  # isinstance() pokes deprecated torch module attributes
        warnings.simplefilter("ignore")
        ts = [o for o in gc.get_objects() if isinstance(o, torch.Tensor)]
    return len(ts), sum(t.grad_fn is not None for t in ts)


def test_repeated_train_and_evaluate_do_not_leak(tmp_path):
    cfg = build_config(
        "configs/quickstart.yaml",
        [*TINY, "data.train_limit=200", "data.test_limit=100", "train.epochs=1"],
    )
    quiet = lambda _msg: None  # noqa: E731
    marks = {}
    for r in range(ROUNDS):
        run = tmp_path / f"run{r}"
        s = train(cfg, run, log=quiet)
        assert s["status"] == "completed"
        evaluate(run, suite="quick")
        shutil.rmtree(run)
        if r == WARMUP - 1:
            marks["start"] = (_rss_mb(), _fds(), _tensors())
    marks["end"] = (_rss_mb(), _fds(), _tensors())
    (rss0, fd0, (t0n, _)), (rss1, fd1, (t1n, g1)) = marks["start"], marks["end"]
    assert rss1 - rss0 < 40, f"RSS grew {rss1 - rss0:.1f} MB over {ROUNDS - WARMUP} runs"
    assert fd1 <= fd0, f"open file descriptors {fd0} -> {fd1}"
    assert t1n <= t0n and g1 == 0, f"tensors {t0n} -> {t1n}, with grad_fn: {g1}"
