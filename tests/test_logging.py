"""TensorBoard and CSV sinks (`log: {tensorboard: true, csv: true}`): the same per-epoch and
per-minibatch scalars as metrics.jsonl / dynamics.jsonl, read back with TensorBoard's own
event reader."""

from __future__ import annotations

import csv

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import advland
from advland.fileio import read_jsonl
from fixtures import TinyCNN, digits_tensors

CONFIG = {
    "train": {"epochs": 2, "batch_size": 50, "val_every": 1, "dynamics": "all"},
    "attack": {"eps": 0.1, "steps": 1, "step_size": 0.1},
    "eval": {"limit": 20},
    "log": {"tensorboard": True, "csv": True},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("log") / "run"
    torch.manual_seed(0)
    advland.fit(
        TinyCNN(),
        digits_tensors("train", 100),
        CONFIG,
        out,
        val_data=digits_tensors("val", 40),
        log=lambda _: None,
    )
    return out


def _events(folder):
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_holds_the_metrics_scalars(run):
    metrics = read_jsonl(run / "metrics.jsonl")
    epoch = _events(run / "tensorboard" / "epoch")
    for key in ("train_loss", "train_error", "val_robust_error", "lr", "eps"):
        want = [(r["epoch"], r[key]) for r in metrics]
        got = epoch[f"epoch/{key}"]
        assert [s for s, _ in got] == [s for s, _ in want]
        assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6)
    dynamics = read_jsonl(run / "dynamics.jsonl")
    batch = _events(run / "tensorboard" / "batch")
    got = batch["batch/grad_norm"]
    assert [s for s, _ in got] == [r["step"] for r in dynamics] == [0, 1, 2, 3]
    assert [v for _, v in got] == pytest.approx([r["grad_norm"] for r in dynamics], rel=1e-6)


def test_csv_has_the_same_rows(run):
    for name in ("metrics", "dynamics"):
        rows = read_jsonl(run / f"{name}.jsonl")
        with open(run / f"{name}.csv", newline="") as f:
            back = list(csv.DictReader(f))
        assert len(back) == len(rows) == (2 if name == "metrics" else 4)
        for a, b in zip(rows, back, strict=True):
            assert {k: float(v) for k, v in a.items()} == {k: float(v) for k, v in b.items()}
