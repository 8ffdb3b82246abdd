"""Long analyses resume without redoing finished work (docs/reliability.md).

A multi-run `advland analyze hessian` and an `advland analyze curve` (Bezier training with
mid-epoch checkpoints, then evaluation point by point) are SIGKILLed at chosen writes
(ADVLAND_FAULT, see advland.fileio.crash_point), rerun until they finish, and must end
identical to an uninterrupted run, with no temporary file left; the log of each rerun
shows what it reused instead of recomputing. Every process is a fork of the test process
running the real CLI entry point (tests/forking.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import advland
import advland.analysis.hessian.spectrum as spectrum
import advland.analysis.landscape.curves as curves
import advland.reporting.plot_spectrum  # imported once here, inherited by the forks
from advland.analysis.hessian.spectrum import SpectrumConfig, hessian_spectrum
from advland.analysis.landscape.curve_resume import CurveCheckpoint
from advland.analysis.landscape.curves import CurveConfig, train_curve
from advland.attacks.spec import AttackConfig
from advland.fileio import read_json, read_npz
from advland.runs.checkpoint import load_verified
from forking import KILLED, fork_cli, run_forked, wait
from support import TINY, lenet, random_images

HESSIAN = [
    "--set=subset_size=32",
    "--set=k=2",
    "--set=num_random_models=3",
    "--set=attack.steps=2",
    "--set=tol=0.01",
    "--set=hvp_method=autograd",
]
# 200 examples in batches of 50: 4 batches per epoch, a checkpoint after batch 3 and at the
# epoch end, so curve-train.pt is written 4 times in 2 epochs (twice mid-epoch).
CURVE = [
    "--train-n=200",
    "--test-n=100",
    "--set=epochs=2",
    "--set=batch_size=50",
    "--set=checkpoint_every=3",
    "--set=num_t=3",
    "--set=steps=2",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("analysis-faults")
    for name, seed in (("a", 0), ("b", 1)):
        cfg = advland.build_config(
            "configs/quickstart.yaml",
            [
                *TINY,
                "data.train_limit=400",
                "data.test_limit=100",
                "train.epochs=1",
                "device=cpu",
                f"train.seed={seed}",
            ],
        )
        advland.train(cfg, base / name, log=lambda s: None)
    return base


def _hessian(runs: Path, out: Path) -> list[str]:
    return ["analyze", "hessian", str(runs / "a"), str(runs / "b"), "--out", str(out), *HESSIAN]


def _curve(runs: Path, out: Path) -> list[str]:
    return ["analyze", "curve", str(runs / "a"), str(runs / "b"), "--out", str(out), *CURVE]


def _kill_chain(argv: list[str], log: Path, faults: list[str]) -> list[str]:
    """Run argv once per fault (each must be killed there), then to completion; returns
    each process's log."""
    logs = []
    for i, fault in enumerate([*faults, None]):
        path = log.with_suffix(f".{i}.log")
        rc = wait(fork_cli(argv, path, fault=fault))
        text = path.read_text()
        assert rc == (KILLED if fault else 0), f"{fault}: rc {rc}\n{text[-3000:]}"
        logs.append(text)
    return logs


def _no_temp_files(folder: Path) -> None:
    assert not [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


def _without_timing(rec: dict) -> dict:
    rec = json.loads(json.dumps(rec))
    rec.pop("wall_time_s", None)
    rec["solver"].pop("wall_time_s", None)
    return rec


def test_killed_multi_run_hessian_resumes_skipping_finished_work(runs, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert run_forked(_hessian(runs, ref), tmp_path / "ref.log") == 0
    logs = _kill_chain(
        _hessian(runs, out),
        tmp_path / "out.log",
        [
            "random_losses.json:2",  # run a: solve saved, 1 of 3 random models saved
            "spectrum.json:1:after",  # run a finished (its solve + 1 loss reused)
            "random_losses.json:1",  # run b: solve saved, killed in its first random model
        ],
    )
    assert "reusing the eigensolve" in logs[1] and "reusing 1 of 3 random-model" in logs[1]
    assert "reusing 3 of 3 random-model" in logs[2]  # run a: nothing recomputed
    assert logs[3].count("reusing the eigensolve") == 2  # a and b: no solve redone
    for run in ("a", "b"):
        a, b = ref / run, out / run
        assert _without_timing(read_json(a / "spectrum.json")) == _without_timing(
            read_json(b / "spectrum.json")
        )
        za, zb = read_npz(a / "spectrum.npz"), read_npz(b / "spectrum.npz")
        for key in set(za) - {"solver"}:  # "solver" holds the wall time
            np.testing.assert_array_equal(za[key], zb[key], err_msg=key)
        assert read_json(b / "random_losses.json") == read_json(a / "random_losses.json")
    assert (out / "spectrum_overlay.png").is_file()
    _no_temp_files(out)


def test_killed_curve_training_and_evaluation_resume_exactly(runs, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert run_forked(_curve(runs, ref), tmp_path / "ref.log") == 0
    logs = _kill_chain(
        _curve(runs, out),
        tmp_path / "out.log",
        [
            "curve-train.pt:2",  # mid-write of the epoch-1 checkpoint: batch 3 is on disk
            "curve-train.pt:2:after",  # resumed mid-epoch; killed after the batch-3 one of epoch 2
            "curve_points.json:2",  # training finished; evaluation killed at point 2 of 3
        ],
    )
    assert "after 0 epochs + 3 batches" in logs[1]
    assert "after 1 epochs + 3 batches" in logs[2]
    assert "after 2 epochs + 0 batches" in logs[3]  # finished training is not redone
    assert "reusing 1 finished curve points" in logs[3]
    ra, rb = read_json(ref / "curve.json"), read_json(out / "curve.json")
    assert ra == rb  # metrics at every t, training history, config, provenance
    for name in ("curve.pt", "curve-train.pt"):
        _equal(load_verified(ref / name), load_verified(out / name), name)
    _no_temp_files(out)


def _equal(a, b, where: str) -> None:
    """Deep equality with tensors compared bit for bit."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_curve_training_interrupted_in_process_resumes_exactly(tmp_path, monkeypatch):
    """Python API: an exception right after a mid-epoch checkpoint, then the same call."""
    a, b = lenet(), lenet()
    with torch.no_grad():
        for p in b.parameters():
            p.mul_(-1)
    x, y = random_images(24)
    attack = AttackConfig(eps=0.1, steps=1)
    cfg = CurveConfig(order=3, epochs=2, batch_size=8, attack=attack, checkpoint_every=2)
    ref = train_curve(a, b, (x, y), cfg)
    steps = []
    real_step, real_save = curves._train_step, CurveCheckpoint.save

    def counted_step(*args):
        steps.append(1)
        return real_step(*args)

    def save_then_fail(self, *args):
        real_save(self, *args)
        if len(steps) == 5:  # after batch 2 of epoch 2 (3 batches per epoch)
            raise KeyboardInterrupt("injected")

    monkeypatch.setattr(curves, "_train_step", counted_step)
    monkeypatch.setattr(CurveCheckpoint, "save", save_then_fail)
    with pytest.raises(KeyboardInterrupt):
        train_curve(a, b, (x, y), cfg, checkpoint=tmp_path / "ck.pt")
    monkeypatch.setattr(CurveCheckpoint, "save", real_save)
    resumed = train_curve(a, b, (x, y), cfg, checkpoint=tmp_path / "ck.pt")
    assert len(steps) == 2 * 3  # 3 batches per epoch, none trained twice
    _equal(resumed.state_dict(), ref.state_dict(), "curve")
    assert resumed.history == ref.history
    again = train_curve(a, b, (x, y), cfg, checkpoint=tmp_path / "ck.pt")  # finished: no work
    assert len(steps) == 6 and again.history == ref.history


def test_hessian_rerun_reuses_solve_and_random_models(tmp_path, monkeypatch):
    """Python API: a rerun into the same folder solves nothing and builds no random model."""
    model, (x, y) = lenet(), random_images(16)
    attack = AttackConfig(eps=0.1, steps=1, step_size=2.5 * 0.1)
    cfg = SpectrumConfig(k=2, subset_size=16, attack=attack, num_random_models=2)
    built = []

    def factory(seed: int):
        built.append(seed)
        return lenet()

    first = hessian_spectrum(model, x, y, cfg, model_factory=factory, out_dir=tmp_path)
    solves = []
    monkeypatch.setattr(spectrum, "_solve", lambda *a, **k: solves.append(1))
    again = hessian_spectrum(model, x, y, cfg, model_factory=factory, out_dir=tmp_path)
    assert built == [0, 1] and not solves
    assert torch.equal(again.eigenvalues, first.eigenvalues)
    assert again.random_losses == first.random_losses
    more = hessian_spectrum(
        model, x, y, replace(cfg, num_random_models=3), model_factory=factory, out_dir=tmp_path
    )  # one more random model: only it is built; the solve does not depend on the count
    assert built == [0, 1, 2] and not solves and more.random_losses[:2] == first.random_losses
