"""Crash safety: SIGKILLs at random and at chosen points of real trainings, then --resume.

Every killed run is resumed (and often killed again) until it completes; it must then
match one uninterrupted reference run bit for bit (latest/previous/best/init/snapshot
checkpoints: weights, optimizer, RNG states; metrics and dynamics logs; test errors),
leave no temporary or unverifiable file behind, and log every epoch exactly once.

Kills land in three ways: (1) ADVLAND_FAULT=<file>:<n>[:<phase>] makes the n-th write of
a file SIGKILL its own process mid-write or just after the rename (fileio.crash_point);
(2) the parent SIGKILLs the child after a random delay (during batches, validation,
checkpointing or the final evaluation); (3) SIGTERM, which must stop cleanly.

To keep the default suite cheap, each run is a forked child of the test process (torch
is already imported, so a start costs milliseconds instead of seconds); every child runs
the real CLI entry point (`forking.fork_cli`) with `cli_env()` (OMP_NUM_THREADS=1) and
one intra-op thread, like the reference run. The long analyses (Hessian, curve) are
covered by tests/test_analysis_faults.py.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest
import torch

from advland.errors import UserError
from advland.fileio import read_json, read_jsonl
from advland.runs.checkpoint import load_file
from forking import KILLED, fork_cli, wait
from support import ROOT, TINY

E = 3  # epochs
ARGS = [
    "--config",
    str(ROOT / "configs/quickstart.yaml"),
    *[f"--set={s}" for s in TINY],
    "--set=data.train_limit=500",
    "--set=data.test_limit=100",
    f"--set=train.epochs={E}",
    "--set=train.periods=[0,1,3]",  # snapshots after epochs 1 and 3
    "--set=eps_schedule.kind=cosine",
    "--set=train.dynamics=first-last",
]
TIMING = {"images_per_s", "epoch_s", "elapsed_s", "eta_s"}
STATS = {"kills": 0, "resumes": 0}  # reported by the slow test's assertion message


def _train(out: Path, **kw) -> int:
    return wait(
        fork_cli(["train", *ARGS, "--out", str(out)], out.parent / "log.txt", **_f(kw)), **_k(kw)
    )


def _resume(out: Path, **kw) -> int:
    return wait(
        fork_cli(["train", "--resume", str(out)], out.parent / "log.txt", **_f(kw)), **_k(kw)
    )


def _f(kw):
    return {"fault": kw.get("fault")}


def _k(kw):
    return {k: v for k, v in kw.items() if k != "fault"}


def _start_or_resume(out: Path, **kw) -> int:
    fresh = not (out / "config.yaml").is_file()
    if fresh and out.exists():  # killed before config.yaml existed: start again (documented)
        shutil.rmtree(out)
    rc = _train(out, **kw) if fresh else _resume(out, **kw)
    if rc == KILLED:
        STATS["kills"] += 1
    elif not fresh:
        STATS["resumes"] += 1
    return rc


def _finish(out: Path) -> None:
    rc = _resume(out)
    assert rc == 0, (out.parent / "log.txt").read_text()[-3000:]
    STATS["resumes"] += 1


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    print(f"\ntest_faults: {STATS['kills']} SIGKILLs landed, {STATS['resumes']} resumes verified")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "ref"
    t0 = time.monotonic()
    assert _train(out) == 0, (out.parent / "log.txt").read_text()[-3000:]
    (out.parent / "seconds").write_text(str(time.monotonic() - t0))
    return out


def _equal(a, b, where: str) -> None:
    """Deep equality of checkpoint contents (tensors bit-exact); wall-clock fields skipped."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            if k != "elapsed":
                _equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def _assert_matches_reference(run: Path, ref: Path) -> None:
    leftovers = [p.name for p in run.rglob("*") if p.name.endswith((".tmp", ".corrupt"))]
    assert not leftovers, leftovers
    names = sorted(p.name for p in (ref / "checkpoints").glob("*.pt"))
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt")) == names
    for name in names:  # every file verifies (load_file checks SHA-256) and matches
        _equal(load_file(ref / "checkpoints" / name), load_file(run / "checkpoints" / name), name)
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == list(range(1, E + 1))
    assert _strip(metrics) == _strip(read_jsonl(ref / "metrics.jsonl"))
    assert read_jsonl(run / "dynamics.jsonl") == read_jsonl(ref / "dynamics.jsonl")
    sa, sb = (read_json(d / "summary.json") for d in (ref, run))  # checksums verified
    for key in ("status", "clean_error", "robust_error", "ensemble", "epochs_completed"):
        assert sa[key] == sb[key], key
    for log in ("metrics.jsonl", "dynamics.jsonl"):  # no torn line survives a resume
        assert (run / log).read_text().endswith("}\n")


# Chains of deterministic kills at checkpoint/log writes: each entry is one process
# (the first a fresh `train`, the rest `--resume`) that must die at that write.
# Write order of a fresh run: config.yaml, env.json, init.pt; per epoch [snapshot-k.pt],
# [best.pt], dynamics.jsonl, metrics.jsonl, (latest.pt -> previous.pt), latest.pt; then
# eval-quick.json, summary.json. A resume first rewrites metrics/dynamics.jsonl (truncation).
CHAINS = [
    ["init.pt:1", "latest.pt:1", "metrics.jsonl:1", "snapshot-0.pt:1:after", "latest.pt:2"],
    ["best.pt:1", "dynamics.jsonl:1", "latest.pt:1:after", "previous.pt:1", "latest.pt:1"],
    ["snapshot-*.pt:2", "metrics.jsonl:2:after", "latest.pt:1", "eval-quick.json:1"],
    ["latest.pt:3:after", "summary.json:1", "summary.json:1:after"],
]


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c[0])
def test_kill_at_writes_then_resume_is_bit_identical(tmp_path, reference, chain):
    out = tmp_path / "run"
    for fault in chain:
        rc = _start_or_resume(out, fault=fault)
        assert rc == KILLED, f"{fault}: process was not killed (rc {rc})"
    _finish(out)
    _assert_matches_reference(out, reference)


def test_random_kills_then_resume_is_bit_identical(tmp_path, reference):
    """SIGKILL after seeded random delays: lands in batches, validation, saves, evaluation."""
    total = float((reference.parent / "seconds").read_text())
    rng = random.Random(1234)
    out, kills = tmp_path / "run", 0
    for _ in range(8):
        if _start_or_resume(out, kill_after=rng.uniform(0.05, 0.9) * total) == KILLED:
            kills += 1
    assert kills >= 3, f"only {kills} of 8 timed kills landed"
    _finish(out)
    _assert_matches_reference(out, reference)


def test_sigterm_stops_with_resume_hint_and_resume_is_identical(tmp_path, reference):
    out = tmp_path / "run"
    log = tmp_path / "log.txt"
    pid = fork_cli(["train", *ARGS, "--out", str(out)], log)
    while len(read_jsonl(out / "metrics.jsonl")) < 1:  # stop during epoch 2
        assert os.waitpid(pid, os.WNOHANG)[0] == 0, log.read_text()[-2000:]
        time.sleep(0.01)
    rc = wait(pid, kill_after=0.0, sig=signal.SIGTERM)
    assert rc == 130, log.read_text()[-2000:]
    assert "resume with 'advland train --resume" in log.read_text()
    assert not [p for p in out.rglob("*.tmp")]
    _finish(out)
    _assert_matches_reference(out, reference)


def test_corrupt_latest_falls_back_to_previous(tmp_path, reference):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    latest = out / "checkpoints/latest.pt"
    latest.write_bytes(latest.read_bytes()[:-100])  # truncated by a bad disk, say
    (out.parent / "log.txt").write_text("")
    _finish(out)
    log = (out.parent / "log.txt").read_text()
    assert "falling back to" in log and "previous.pt (epoch 2)" in log, log[-2000:]
    assert "truncated" in log
    (out / "checkpoints/latest.pt.corrupt").unlink()
    _assert_matches_reference(out, reference)


@pytest.mark.parametrize("damage", ["truncate", "flip", "header"])
def test_damaged_checkpoint_is_a_one_line_error_naming_the_file(tmp_path, reference, damage):
    path = tmp_path / "snapshot-0.pt"
    data = bytearray((reference / "checkpoints/snapshot-0.pt").read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-500] ^= 1
    else:
        data = data[data.index(b"\n") + 1 :]  # a bare torch.save file: no checksum
    path.write_bytes(bytes(data))
    with pytest.raises(UserError) as e:
        load_file(path)
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg


@pytest.mark.slow
def test_many_random_kills_slow(tmp_path, reference):
    """A larger randomised campaign: 5 runs x up to 6 kills, random writes and random times."""
    total = float((reference.parent / "seconds").read_text())
    sites = ["latest.pt", "previous.pt", "snapshot-*.pt", "best.pt", "init.pt", "*.jsonl"]
    sites += ["eval-quick.json", "summary.json"]
    rng = random.Random(int(os.environ.get("ADVLAND_FAULT_SEED", "0")))
    for r in range(5):
        out = tmp_path / f"run{r}"
        for _ in range(6):
            if rng.random() < 0.5:
                fault = f"{rng.choice(sites)}:{rng.randint(1, 3)}:{rng.choice(['mid', 'after'])}"
                _start_or_resume(out, fault=fault)
            else:
                _start_or_resume(out, kill_after=rng.uniform(0.02, 1.0) * total)
        _finish(out)
        _assert_matches_reference(out, reference)
    assert STATS["kills"] >= 12, STATS
