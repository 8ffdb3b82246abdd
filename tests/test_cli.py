"""The real `advland` entry point in subprocesses: dry runs, one-line errors, quickstart."""

from __future__ import annotations

import json

import pytest

from support import TINY, run_cli


def _sets(overrides):
    return [f"--set={s}" for s in overrides]


def test_train_dry_run_writes_nothing(tmp_path):
    proc = run_cli(
        "train", "--config", "configs/quickstart.yaml", "--dry-run", "--out", str(tmp_path / "x")
    )
    assert proc.returncode == 0, proc.stderr
    assert "dry run OK" in proc.stdout and "parameters" in proc.stdout
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "attack.eps=-1"], "attack.eps=-1.0 must be >= 0"),
        (["--set", "atack.eps=0.1"], "did you mean 'attack'"),
        (["--set", "model.name=lenett"], "did you mean 'lenet'"),
        (["--set", "data.name=/nonexistent/data.npz"], "/nonexistent/data.npz"),
        (["--set", "train.periods=[0,3]"], "train.periods"),
        (["--set", "model.name=vgg"], "needs image_size >= 32"),  # MNIST is 28x28
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, args, message):
    out = tmp_path / "run"
    proc = run_cli("train", "--config", "configs/quickstart.yaml", *args, "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("advland: error:") and message in lines[0], (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_resume_and_evaluate_reject_non_run_dirs(tmp_path):
    for args in (
        ["train", "--resume", str(tmp_path)],
        ["evaluate", str(tmp_path)],
        ["evaluate", str(tmp_path / "missing")],
    ):
        proc = run_cli(*args)
        assert proc.returncode == 2 and "not" in proc.stderr and "Traceback" not in proc.stderr


def test_existing_run_dir_is_never_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    proc = run_cli("train", "--config", "configs/quickstart.yaml", "--out", str(out))
    assert proc.returncode == 2 and "--resume" in proc.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_quickstart_end_to_end(tmp_path):
    proc = run_cli(
        "quickstart",
        "--epochs",
        "4",
        "--seeds",
        "2",
        # PGD-20 keeps it short: AutoAttack's ε = 0 check alone runs its whole budget
        # multistep: the paper's periodic learning-rate resets, checked below
        *_sets([*TINY, "eval.suite=quick", "eval.limit=50", "lr_schedule.kind=multistep"]),
        "--workers",
        "2",
        "--progress-every",
        "5",
        "--out",
        str(tmp_path / "qs"),
        timeout=1500,  # six tiny runs: about a minute idle, ten at the load of a shared machine
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    names = ["constant", "cosine", *(f"cosine-pas snapshot {k}" for k in (1, 2, 3))]
    for name in [*names, "cosine-pas ensemble"]:
        assert f"| {name} " in out
    assert "ε warmup beats constant ε:" in out and "n=2" in out
    got = json.loads((tmp_path / "qs/comparison.json").read_text())
    rows = got["rows"]
    assert [r["model"] for r in rows if r["seed"] == 0] == [*names, "cosine-pas ensemble"]
    assert {r["seed"] for r in rows} == {0, 1}
    assert all(
        r["status"] == "completed" and r["robust error %"] >= r["clean error %"] for r in rows
    )
    assert [c["n"] for c in got["comparisons"]] == [2, 2, 2]
    runs = {p.name.rsplit("-", 1)[0]: p for p in (tmp_path / "qs" / "runs").iterdir()}
    assert sorted(runs) == sorted(
        f"{m}-s{k}" for m in ("constant", "cosine", "cosine-pas") for k in (0, 1)
    )
    assert all((p / "summary.json").is_file() for p in runs.values())
    assert "2 at once" in out  # one process per usable core, each run in its own
    # PAS resets the learning rate with ε: each period replays the lr schedule
    lrs = [
        json.loads(line)["lr"]
        for line in (runs["cosine-pas-s0"] / "metrics.jsonl").read_text().splitlines()
    ]
    assert lrs[0] == lrs[2] > lrs[1]
    # rerun into the same folder: every run is found finished, none trains again
    again = run_cli(
        "quickstart",
        "--epochs",
        "4",
        "--seeds",
        "2",
        *_sets([*TINY, "eval.suite=quick", "eval.limit=50", "lr_schedule.kind=multistep"]),
        "--out",
        str(tmp_path / "qs"),
        timeout=600,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("earlier, skipped") == 6


def test_data_list_runs():
    proc = run_cli("data", "list")
    assert proc.returncode == 0 and "mnist-5k" in proc.stdout and "cifar10" in proc.stdout
