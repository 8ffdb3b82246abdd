"""Data-parallel training, evaluation and analysis under the real `torchrun` (gloo, 2 CPU
ranks), against one process; restart of a killed group; the run-directory lock.

Tolerance of the 2-rank vs 1-process comparison: each rank attacks its half of every
global batch from the same random start one process draws (`Threat.random_init` with
`rows`), and DDP averages the two half-batch mean gradients, so the update is the one of
the global-batch mean. Only the float32 summation order differs (two partial sums added
by the all-reduce instead of one reduction over the batch of 100): ~1 ulp per gradient
entry and step. After the 8 SGD steps below the weights agree to 1e-6 absolute (measured
3e-8) while training moves them by 4e-2. The tolerance is for a few steps only: PGD's
sign(∇x) turns a rounding difference of an input-gradient entry near zero into a
difference of one full step on that pixel, so differences grow over a long run (measured
on this config: 1.2e-5 after 8 steps of one epoch, 1e-3 after 24 steps; without the
attack 4.5e-8 after 24 steps). Evaluation and the surface/curve points are computed per
example or per point exactly as in one process, so they are compared for equality.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from advland import distributed
from advland.errors import UserError
from advland.evaluation.run import evaluate
from advland.fileio import read_jsonl
from advland.runs.checkpoint import load_file
from advland.runs.lock import RunLock, holder
from support import ROOT, cli_env, run_cli

# 4 epochs of 2 global batches of 100 (8 SGD steps), PGD-3 training attack
SETS = [
    "data.name=mnist-5k",
    "data.train_limit=800",
    "data.val_size=200",
    "data.test_limit=60",
    "model.width=1",
    "attack.eps=0.1",
    "attack.steps=3",
    "attack.step_size=0.04",
    "train.batch_size=100",
    "train.max_batches=2",
    "train.val_steps=10",
    "optim.name=sgd",
    "optim.lr=0.05",
    "optim.momentum=0.9",
    "train.epochs=4",
    "eval.batch_size=64",
    "eval.suite=quick",
    "device=cpu",
]
CONFIG = "mnist-lenet-constant"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun_argv(*args: str, nproc: int = 2, restarts: int = 0) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(nproc),
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{_port()}",
        "--max-restarts",
        str(restarts),
        *args,
    ]


def torchrun(*args: str, restarts: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run(
        _torchrun_argv(*args, restarts=restarts),
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _train_args(out: Path, *extra: str) -> list[str]:
    sets = [a for s in (*SETS, *extra) for a in ("--set", s)]
    return ["train", "--config", CONFIG, *sets, "--out", str(out)]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / "latest.pt")["model"]


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"{proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The same run (8 steps of global batch 100) in one process and on 2 ranks."""
    base = tmp_path_factory.mktemp("ddp")
    one, two = base / "one", base / "two"
    run_cli(*_train_args(one), check=True)
    proc = torchrun("-m", "advland", *_train_args(two))
    _ok(proc)
    (base / "two.log").write_text(proc.stdout + proc.stderr)
    return {"one": one, "two": two, "log": base / "two.log"}


def test_two_ranks_match_one_process(runs):
    one, two = _weights(runs["one"]), _weights(runs["two"])
    init = load_file(runs["one"] / "checkpoints" / "init.pt")["model"]
    moved = max((one[k] - init[k]).abs().max().item() for k in one)
    assert moved > 1e-3  # the comparison below is not between two untrained models
    for k in one:
        torch.testing.assert_close(two[k], one[k], atol=1e-6, rtol=0)
    m1, m2 = read_jsonl(runs["one"] / "metrics.jsonl"), read_jsonl(runs["two"] / "metrics.jsonl")
    assert len(m1) == len(m2) == 4
    for a, b in zip(m1, m2, strict=True):
        assert a["val_robust_error"] == b["val_robust_error"]  # sharded validation, gathered
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-4
    s1 = json.loads((runs["one"] / "summary.json").read_text())
    s2 = json.loads((runs["two"] / "summary.json").read_text())
    assert s2["status"] == "completed" and s2["n_test"] == s1["n_test"] == 60


def test_only_rank_zero_writes_and_prints(runs):
    names = sorted(p.name for p in runs["two"].iterdir())
    assert names == sorted(p.name for p in runs["one"].iterdir())
    assert "run.lock" in names
    log = runs["log"].read_text()
    for epoch in range(1, 5):  # one log line per epoch: rank 0's
        assert log.count(f"epoch {epoch:>3}/4 |") == 1, log[-2000:]
    assert log.count("run directory:") == 1 and log.count("clean error %") == 1


def _clean_trained(run: Path) -> None:
    """Replace the run's latest weights by a LeNet trained cleanly for 3 epochs (Adam, 92%
    training accuracy), so that its evaluation has robust points, points broken by an
    attack and clean errors."""
    import torch.nn.functional as F

    from advland.runs.checkpoint import save_verified
    from advland.runs.load import load_run

    loaded = load_run(run, "latest", "cpu")
    model, train = loaded.model.train(), loaded.splits.train
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y, gen = train.x.float() / 255, train.y, torch.Generator().manual_seed(0)
    for _ in range(3):
        order = torch.randperm(len(y), generator=gen)  # the split is sorted by label
        for i in range(0, len(y), 50):
            j = order[i : i + 50]
            opt.zero_grad()
            F.cross_entropy(model(x[j]), y[j]).backward()
            opt.step()
    path = run / "checkpoints" / "latest.pt"
    obj = load_file(path)
    obj["model"] = model.state_dict()
    save_verified(path, obj)
    # evaluate at ε = 0.02: PGD breaks some points, others stay robust for APGD to attack
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["attack"].update(eps=0.02, step_size=0.005)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def test_distributed_evaluation_gathers_the_same_per_example_results(runs, tmp_path):
    """`advland evaluate` on 2 ranks (PGD and APGD split over ranks) = one process."""
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(runs["one"], a)
    _clean_trained(a)
    shutil.copytree(a, b)
    evaluate(a, "standard", limit=20, log=lambda _: None)  # one process: this one
    proc = torchrun("-m", "advland", "evaluate", str(b), "--suite", "standard", "--limit", "20")
    _ok(proc)
    assert proc.stdout.count("clean error %") == 1  # one table: rank 0 prints
    ea = json.loads((a / "eval-standard.json").read_text())["final"]
    eb = json.loads((b / "eval-standard.json").read_text())["final"]
    assert ea["n"] == eb["n"] == 20
    assert eb["broken_by"] == ea["broken_by"]
    assert eb["after_each"] == ea["after_each"]
    # the check can fail: robust points, points broken by an attack, clean errors
    assert {"", "clean"} < set(ea["broken_by"])


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _rank_pid(root: int, rank: int) -> int | None:
    """pid of the training process with RANK=rank below `root` (torchrun's agent)."""
    todo, seen = [root], []
    while todo:
        pid = todo.pop()
        seen.append(pid)
        todo += _children(pid)
    for pid in seen[1:]:
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and b"TORCHELASTIC_RESTART_COUNT=0" in env:
            return pid
    return None


def test_sigkill_of_one_rank_restarts_the_group_from_the_checkpoint(runs, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _torchrun_argv("-m", "advland", *_train_args(out), restarts=1),
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 300
    while not (metrics.exists() and len(read_jsonl(metrics)) >= 1):
        assert proc.poll() is None and time.time() < deadline, "training ended too early"
        time.sleep(0.05)
    ranks = [_rank_pid(proc.pid, rank=r) for r in (0, 1)]
    assert None not in ranks
    for pid in ranks:  # freeze the group: the kill then lands before training ends
        os.kill(pid, signal.SIGSTOP)
    assert len(read_jsonl(metrics)) < 4, "training ended before the kill"
    os.kill(ranks[1], signal.SIGKILL)
    os.kill(ranks[0], signal.SIGCONT)
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output[-4000:]
    assert "resuming" in output  # the restarted group resumed from a checkpoint
    assert [r["epoch"] for r in read_jsonl(metrics)] == [1, 2, 3, 4]
    uninterrupted, resumed = _weights(runs["two"]), _weights(out)
    for k in uninterrupted:
        assert torch.equal(resumed[k], uninterrupted[k]), k


def test_batch_not_divisible_by_world_size_is_one_line_error(tmp_path):
    out = tmp_path / "bad"
    proc = torchrun("-m", "advland", *_train_args(out, "train.batch_size=101"))
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("advland: error:")]
    assert lines and "train.batch_size=101 is not divisible by the 2 processes" in lines[0]
    assert not out.exists()


def test_distributed_hvp_surface_and_curve_equal_one_process(tmp_path):
    import dist_script

    _ok(torchrun(str(ROOT / "tests" / "dist_script.py"), str(tmp_path / "two.pt")))
    two = torch.load(tmp_path / "two.pt", weights_only=False)
    one = dist_script.compute()  # the same computation in this (single) process
    assert two["world"] == 2
    # float32 sums over 150 examples: 2 partial sums + all-reduce vs batches in one process
    for k in ("hvp", "matmat", "gradient", "eigenvalues"):
        torch.testing.assert_close(two[k], one[k], rtol=1e-5, atol=1e-6)
    assert one["hvp"].abs().max() > 1e-2
    assert abs(two["loss"] - one["loss"]) < 1e-5
    assert torch.equal(two["surface_loss"], one["surface_loss"])
    assert torch.equal(two["surface_error"], one["surface_error"])
    assert two["curve"] == one["curve"]


def test_shards_are_contiguous_balanced_and_cover_the_rows():
    for total in (0, 1, 7, 100, 101):
        for world in (1, 2, 3, 8):
            parts = [distributed.shard(total, r, world) for r in range(world)]
            assert [p.start for p in parts[1:]] == [p.stop for p in parts[:-1]]
            assert parts[0].start == 0 and parts[-1].stop == total
            assert max(p.size for p in parts) - min(p.size for p in parts) <= 1
    # a single process: rank 0 of 1, everything whole, collectives are identities
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.shard(5).whole
    assert list(distributed.map_rounds([1, 2, 3], lambda v: v * v)) == [(1, 1), (2, 4), (3, 9)]


@pytest.mark.parametrize("attack", ["pgd", "apgd"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_attacking_row_shards_equals_attacking_the_whole_batch(attack, norm):
    """What makes 2 ranks equal to 1 process: each shard's random start is its rows of
    the whole batch's start, and the generators advance alike."""
    from advland.attacks import Threat, apgd, pgd
    from support import lenet, random_images

    model, (x, y) = lenet(), random_images(10)
    threat = Threat(norm=norm, eps=0.1 if norm == "linf" else 1.0)

    def run(xs, ys, gen, rows=None):
        if attack == "pgd":
            step = threat.eps / 4
            kw = dict(steps=3, step_size=step, random_start="eps", restarts=2)
            return pgd(model, xs, ys, threat, generator=gen, rows=rows, **kw)
        return apgd(model, xs, ys, threat, steps=5, generator=gen, rows=rows)

    whole = run(x, y, torch.Generator().manual_seed(3))
    gens = [torch.Generator().manual_seed(3) for _ in range(2)]
    parts = []
    for r, gen in enumerate(gens):
        rows = distributed.shard(10, r, 2)
        parts.append(run(rows.take(x), rows.take(y), gen, rows))
    torch.testing.assert_close(torch.cat(parts), whole, atol=1e-6, rtol=0)
    assert not torch.equal(whole, x)
    assert torch.equal(gens[0].get_state(), gens[1].get_state())  # advanced alike


def test_lock_refuses_a_second_holder_and_recovers_after_release(tmp_path):
    with RunLock(tmp_path):
        assert holder(tmp_path) == f"pid={os.getpid()} host={socket.gethostname()}"
        with pytest.raises(UserError) as err:
            RunLock(tmp_path).acquire()
        msg = str(err.value)
        assert "\n" not in msg and str(tmp_path) in msg and f"pid={os.getpid()}" in msg
        assert "--resume" in msg
    with RunLock(tmp_path) as again:  # released: free again
        assert again.held


def _wait_for(pred, proc, what: str, limit: float = 300) -> None:
    deadline = time.time() + limit
    while not pred():
        assert proc.poll() is None, f"process ended before {what}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_second_resume_exits_2_and_a_killed_holder_is_recovered(tmp_path):
    """A SIGKILLed trainer's lock is recovered by the resume; a second concurrent resume
    of the same run exits 2 with one line; the first one finishes the run."""
    out = tmp_path / "run"
    args = _train_args(out)
    first = subprocess.Popen(
        [sys.executable, "-m", "advland", *args],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    metrics = out / "metrics.jsonl"
    _wait_for(lambda: metrics.exists() and len(read_jsonl(metrics)) >= 1, first, "epoch 1")
    first.kill()  # SIGKILL: the lock's holder dies without releasing anything
    first.wait()
    assert holder(out) == f"pid={first.pid} host={socket.gethostname()}"
    resume = ["train", "--resume", str(out)]
    a = subprocess.Popen(
        [sys.executable, "-m", "advland", *resume],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: holder(out) == f"pid={a.pid} host={socket.gethostname()}", a, "the lock")
    a.send_signal(signal.SIGSTOP)  # a holds the lock while b tries (a cannot finish first)
    try:
        b = run_cli(*resume)
    finally:
        a.send_signal(signal.SIGCONT)
    assert b.returncode == 2
    err = b.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("advland: error: run ")
    assert str(out) in err[0] and f"pid={a.pid}" in err[0] and "--resume" in err[0]
    _, a_err = a.communicate(timeout=600)
    assert a.returncode == 0, a_err[-3000:]
    assert [r["epoch"] for r in read_jsonl(metrics)] == [1, 2, 3, 4]
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
