"""Exact resume: a run killed with SIGKILL mid-epoch and resumed ends bit-identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch

from advland.fileio import read_jsonl
from advland.runs.checkpoint import load_file
from support import ROOT, TINY, cli_env, run_cli

TIMING = {"images_per_s", "epoch_s", "elapsed_s", "eta_s"}
ARGS = [
    "--config",
    "configs/quickstart.yaml",
    *[f"--set={s}" for s in TINY],
    "--set=train.epochs=4",
    "--set=train.periods=[0,2,4]",
    "--set=eps_schedule.kind=cosine",
    "--set=data.train_limit=2000",
    "--set=train.dynamics=all",
]


def _start(out):
    return subprocess.Popen(
        [sys.executable, "-m", "advland.cli", "train", *ARGS, "--out", str(out)],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_mid_epoch(out, after_epochs: int) -> None:
    """SIGKILL the training halfway through epoch `after_epochs + 1`."""
    proc = _start(out)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        rows = read_jsonl(metrics)
        if len(rows) >= after_epochs:
            time.sleep(0.5 * rows[-1]["epoch_s"])  # mid-way through the next epoch
            break
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(read_jsonl(metrics)) == after_epochs, "kill did not land mid-epoch"


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    run_cli("train", *ARGS, "--out", str(ref), check=True)
    _kill_mid_epoch(cut, after_epochs=1)
    proc = run_cli("train", "--resume", str(cut))
    assert proc.returncode == 0, proc.stderr
    assert "resuming" in proc.stdout + proc.stderr

    a = load_file(ref / "checkpoints/latest.pt")
    b = load_file(cut / "checkpoints/latest.pt")
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for name in ("snapshot-0.pt", "snapshot-1.pt"):
        sa, sb = load_file(ref / "checkpoints" / name), load_file(cut / "checkpoints" / name)
        assert all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"])
    assert _strip(read_jsonl(ref / "metrics.jsonl")) == _strip(read_jsonl(cut / "metrics.jsonl"))
    assert read_jsonl(ref / "dynamics.jsonl") == read_jsonl(cut / "dynamics.jsonl")
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (ref, cut))
    for key in ("status", "clean_error", "robust_error", "ensemble"):
        assert sa[key] == sb[key], key


def test_resume_of_completed_run_only_reevaluates(tmp_path):
    out = tmp_path / "run"
    run_cli("train", *ARGS[:-4], "--set=train.epochs=1", "--out", str(out), check=True)
    before = load_file(out / "checkpoints/latest.pt")["model"]
    proc = run_cli("train", "--resume", str(out), check=True)
    assert "completed" in proc.stdout
    after = load_file(out / "checkpoints/latest.pt")["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)
