"""Sweeps on every executor: each job is the same `advland` process, so a sweep through a
real Ray head (with one task's worker killed mid-run) or through submitit (a real
single-node Slurm when the machine can start one, and submitit's local executor) trains
every run exactly once and ends with the same weights and numbers as the local executor.
Bad executor options are refused with one line and exit code 2, nothing written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from advland.cli import main
from advland.experiments.executors import ExecutorOptions, local
from advland.experiments.executors.local import LocalExecutor, slot_devices, visible_gpus
from advland.experiments.executors.task import Outcome, Progress
from advland.experiments.jobs import TrainJob, run_dir_of
from advland.experiments.recipe import Context, Plan, Recipe, Summary, table
from advland.experiments.runner import reproduce
from advland.experiments.sweep import run_sweep
from advland.fileio import read_json, read_jsonl
from advland.runs.checkpoint import load_file
from cluster import (
    RAY_ENV,
    alive,
    environ_of,
    parent_of,
    ray_head,
    slurm_cluster,
    slurm_missing,
    trainer_of,
)
from support import cli_env

TINY = (
    "device=cpu",
    "data.name=mnist-5k",
    "data.test_limit=100",
    "data.val_size=0",
    "train.val_every=0",
    "model.width=1",
    "attack.steps=2",
    "attack.eps=0.1",
    "attack.step_size=0.025",
    "train.batch_size=100",
    "eval.batch_size=100",
)


def job(seed: int, epochs: int, digits: int) -> TrainJob:
    sets = (*TINY, f"data.train_limit={digits}", f"train.epochs={epochs}", f"train.seed={seed}")
    return TrainJob("quickstart.yaml", sets, (("task", "exec"), ("epochs", epochs), ("seed", seed)))


SHORT = (job(0, 2, 300), job(1, 2, 300))
LONG = job(2, 12, 600)  # the run killed mid-run: ~0.2 s per epoch on one core
JOBS = (*SHORT, LONG)


def run_sweep_quiet(root: Path, jobs, executor: ExecutorOptions | LocalExecutor) -> dict:
    lines: list[str] = []
    outcomes = run_sweep(root, jobs, [], 2, lines.append, executor=executor)
    assert any("ETA" in line for line in lines)  # the driver's progress lines
    return {o.name: o.status for o in outcomes}


def result(root: Path, j: TrainJob) -> tuple[dict, dict]:
    """A finished run's summary numbers and its final weights."""
    run = run_dir_of(root, j)
    summary = read_json(run / "summary.json")
    numbers = {k: summary[k] for k in ("status", "clean_error", "robust_error", "epochs_completed")}
    ckpt = load_file(run / "checkpoints" / "latest.pt")
    return numbers, ckpt["model"]


def starts(root: Path, j: TrainJob) -> list[str]:
    """The `advland train` command lines the sweep started for `j`, in order."""
    log = (root / "logs" / f"{j.key}.log").read_text()
    return [line for line in log.splitlines() if line.startswith("$ ") and " train " in line]


def assert_same_runs(root: Path, reference: Path, jobs) -> None:
    for j in jobs:
        (numbers, weights), (ref_numbers, ref_weights) = result(root, j), result(reference, j)
        assert numbers == ref_numbers and numbers["status"] == "completed"
        assert weights.keys() == ref_weights.keys()
        for name, tensor in weights.items():
            assert torch.equal(tensor, ref_weights[name]), f"{j.key}: {name} differs"
        epochs = [m["epoch"] for m in read_jsonl(run_dir_of(root, j) / "metrics.jsonl")]
        assert epochs == list(range(1, numbers["epochs_completed"] + 1))  # each epoch once


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The sweep on the local executor: 2 workers, each slot with its own (named) GPU."""
    root = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.setattr(local, "usable_cores", lambda: 2)  # 2 workers × 1 thread, whatever the host
        statuses = run_sweep_quiet(root, JOBS, LocalExecutor(2, gpus=["0", "1"]))
    assert set(statuses.values()) == {"completed"}
    for j in JOBS:
        (line,) = starts(root, j)
        assert line.startswith(
            ("$ CUDA_VISIBLE_DEVICES=0 advland", "$ CUDA_VISIBLE_DEVICES=1 advland")
        )
    return root


def test_local_slots_own_one_gpu_each(monkeypatch):
    assert slot_devices(3, ["0", "1"]) == [
        {"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "1"}, {"CUDA_VISIBLE_DEVICES": "0"}]  # fmt: skip
    assert slot_devices(2, ["2", "5", "7"]) == [
        {"CUDA_VISIBLE_DEVICES": "2"}, {"CUDA_VISIBLE_DEVICES": "5"}]  # fmt: skip
    assert slot_devices(2, []) == [{}, {}]  # no GPU: nothing set
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,GPU-1f2e")
    assert visible_gpus() == ["3", "GPU-1f2e"]  # the parent's own restriction is kept
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity here")
def test_local_threads_follow_the_cpu_affinity():
    """A sweep started under `taskset -c 0` (or a cgroup cpuset) gives its jobs the one core
    it may use, not every core of the machine: threads per job = usable cores / workers."""
    seen: list[int] = []

    def task(threads: int, env: dict[str, str]) -> Outcome:
        seen.append(threads)
        return Outcome("probe", "completed", 0.0)

    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        LocalExecutor(1).run([task], Progress("train", 1, lambda line: None))
    finally:
        os.sched_setaffinity(0, before)
    assert seen == [1]
    seen.clear()
    LocalExecutor(1).run([task], Progress("train", 1, lambda line: None))
    assert seen == [len(before)]


DRIVER = """
import json, sys
from pathlib import Path
from advland.experiments.jobs import TrainJob
from advland.experiments.sweep import run_sweep
job = TrainJob("quickstart.yaml", tuple(json.loads(sys.argv[2])), ())
run_sweep(Path(sys.argv[1]), [job], [], 1, lambda s: None)
"""


def test_a_killed_driver_takes_its_runs_with_it(tmp_path):
    """SIGKILL on the process that started a job (no chance to forward anything): its
    `advland train` dies too (PR_SET_PDEATHSIG), instead of training on as an orphan."""
    long = TrainJob("quickstart.yaml", (*LONG.overrides[:-1], "train.epochs=1000"), ())
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path), json.dumps(long.overrides)], env=cli_env())  # fmt: skip
    deadline, trainer = time.monotonic() + 240, None
    while trainer is None:
        assert time.monotonic() < deadline and driver.poll() is None, "the run never started"
        trainer = trainer_of(run_dir_of(tmp_path, long))
        time.sleep(0.1)
    driver.kill()
    driver.wait()
    deadline = time.monotonic() + 30
    while alive(trainer) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphan = alive(trainer)
    if orphan:
        os.kill(trainer, signal.SIGKILL)  # leave nothing running behind a failed test
    assert not orphan, "the run outlived the process that started it"


# ---------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_address():
    env = dict(cli_env(), **RAY_ENV)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in RAY_ENV.items():
            mp.setenv(k, v)
        with ray_head(env, cpus=2) as address:
            yield address


def trainer_after(run_dir: Path, after: int, timeout: float = 240):
    """The pid of the process training `run_dir` once it has trained `after` epochs;
    None if that does not happen within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = run_dir / "metrics.jsonl"
        epochs = len(read_jsonl(metrics)) if metrics.is_file() else 0
        trainer = trainer_of(run_dir)
        if epochs >= after and trainer:
            return trainer
        time.sleep(0.05)
    return None


class Killer(threading.Thread):
    """Once `run_dir` has trained `after` epochs, SIGKILL the process that started its
    trainer (the Ray worker running its task) and record both pids."""

    def __init__(self, run_dir: Path, after: int = 2) -> None:
        super().__init__(daemon=True)
        self.run_dir, self.after = run_dir, after
        self.worker = self.trainer = None
        self.parent_cmdline = b""

    def run(self) -> None:
        trainer = trainer_after(self.run_dir, self.after)
        if trainer:
            self.trainer, self.worker = trainer, parent_of(trainer)
            self.parent_cmdline = Path(f"/proc/{self.worker}/cmdline").read_bytes()
            os.kill(self.worker, signal.SIGKILL)


def test_ray_sweep_survives_a_killed_worker(ray_address, reference, tmp_path):
    killer = Killer(run_dir_of(tmp_path, LONG))
    killer.start()
    opts = ExecutorOptions("ray", address=ray_address, cpus_per_job=1)
    statuses = run_sweep_quiet(tmp_path, JOBS, opts)
    killer.join(timeout=5)
    assert killer.worker, "the long run never reached its second epoch under Ray"
    assert b"ray" in killer.parent_cmdline.lower()  # the killed parent was a Ray worker
    assert not alive(killer.trainer)  # its trainer died with it (PR_SET_PDEATHSIG)
    assert set(statuses.values()) == {"completed"}
    # Every run started once; the killed one once more, resumed from its checkpoint.
    assert [len(starts(tmp_path, j)) for j in SHORT] == [1, 1]
    first, again = starts(tmp_path, LONG)
    assert " --resume " in again and " --resume " not in first
    assert_same_runs(tmp_path, reference, JOBS)
    # A finished run is never run twice: a second sweep only skips.
    again_statuses = run_sweep(tmp_path, JOBS, [], 2, lambda s: None, executor=opts)
    assert all(o.detail == "already finished" and o.seconds == 0 for o in again_statuses)
    assert len(starts(tmp_path, LONG)) == 2


# ---------------------------------------------------------------- submitit / Slurm


def errors_table(ctx: Context) -> Summary:
    rows = [[r.job.key, r.summary["clean_error"], r.summary["robust_error"]] for r in ctx.runs()]
    return Summary(tables=[table("errors", ["run", "clean", "robust"], rows)])


SHORT_RECIPE = Recipe("exec", "two short runs", "-", lambda scale, root: Plan(train=SHORT),
                      errors_table, {"quick": "-", "full": "-"})  # fmt: skip


def test_submitit_local_sweep_matches_local(reference, tmp_path):
    """submitit's local executor: the Slurm executor's code path without a Slurm, through
    `reproduce` (the runner behind `advland reproduce ITEM --executor slurm`)."""
    opts = ExecutorOptions("slurm", cpus_per_job=1, time=10, submitit_cluster="local")
    got = reproduce(SHORT_RECIPE, "quick", tmp_path, 2, log=lambda s: None, executor=opts)
    assert got["runs"] == {
        "total": 2,
        "completed": 2,
        "diverged": 0,
        "failed": 0,
        "sanity-failed": 0,
    }
    # The aggregate equals the local executor's (its runs are finished: only summarised).
    want = reproduce(SHORT_RECIPE, "quick", reference, 2, log=lambda s: None)
    assert got["tables"] == want["tables"] and len(got["tables"][0]["rows"]) == 2
    assert [len(starts(tmp_path, j)) for j in SHORT] == [1, 1]
    assert_same_runs(tmp_path, reference, SHORT)
    assert any((tmp_path / "slurm").rglob("*_submitted.pkl"))  # submitit's own job files


@pytest.fixture(scope="module")
def slurm_env(tmp_path_factory):
    reason = slurm_missing()
    if reason:
        pytest.skip(f"no real Slurm: {reason}")
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as env, pytest.MonkeyPatch.context() as mp:
        for k in ("SLURM_CONF", "PATH"):
            mp.setenv(k, env[k])
        yield env


class Preempter(threading.Thread):
    """Once `run_dir` has trained `after` epochs, send its Slurm job SIGUSR2 (Slurm's
    pre-timeout signal): submitit checkpoints and requeues the job, which must resume."""

    def __init__(self, run_dir: Path, env: dict[str, str], after: int = 2) -> None:
        super().__init__(daemon=True)
        self.run_dir, self.env, self.after = run_dir, env, after
        self.job_id = ""

    def run(self) -> None:
        trainer = trainer_after(self.run_dir, self.after)
        if trainer:
            slurm = environ_of(trainer)
            self.job_id = f"{slurm['SLURM_ARRAY_JOB_ID']}_{slurm['SLURM_ARRAY_TASK_ID']}"
            subprocess.run(["scancel", "--signal=USR2", self.job_id], env=self.env, check=True)


def test_slurm_sweep_with_a_requeued_job(slurm_env, reference, tmp_path):
    """A real single-node Slurm: one array over the jobs, at most 2 at once; the long job
    is preempted mid-run, requeued by submitit, and its run resumes."""
    preempter = Preempter(run_dir_of(tmp_path, LONG), slurm_env)
    preempter.start()
    opts = ExecutorOptions("slurm", cpus_per_job=1, time=10, array_size=2, partition="debug")
    statuses = run_sweep_quiet(tmp_path, JOBS, opts)
    preempter.join(timeout=5)
    assert preempter.job_id, "the long run never reached its second epoch under Slurm"
    assert set(statuses.values()) == {"completed"}
    assert [len(starts(tmp_path, j)) for j in SHORT] == [1, 1]
    first, again = starts(tmp_path, LONG)
    assert " --resume " in again and " --resume " not in first
    assert_same_runs(tmp_path, reference, JOBS)


# ---------------------------------------------------------------- bad options


BAD = [
    (["--executor", "dask"], "unknown --executor 'dask'"),
    (
        ["--partition", "gpu"],
        "--partition is an option of --executor slurm, not of --executor local",
    ),
    (["--executor", "ray", "--workers", "3"], "--workers is an option of --executor local"),
    (["--executor", "slurm", "--address", "a:1"], "--address is an option of --executor ray"),
    (["--executor", "ray", "--cpus-per-job", "0"], "--cpus-per-job must be >= 1, got 0"),
    (["--executor", "slurm", "--gpus-per-job", "0.5"], "whole number on Slurm"),
    (["--workers", "0"], "--workers must be >= 1, got 0"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_executor_options_exit_2_with_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["reproduce", "fig4", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not out.exists(), err


@pytest.mark.parametrize(("executor", "module"), [("ray", "ray"), ("slurm", "submitit")])
def test_missing_engine_names_the_extra(tmp_path, capsys, monkeypatch, executor, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    assert main(["reproduce", "fig4", "--out", str(tmp_path / "out"), "--executor", executor]) == 2
    assert capsys.readouterr().err.strip() == (
        f"advland: error: --executor {executor} needs {module}, which is not installed:"
        " pip install 'advland[cluster]'"
    )


def test_bad_option_through_the_entry_point(tmp_path):
    """The installed entry point: exit code 2 and the one line on stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "advland", "reproduce", "fig4", "--out", str(tmp_path / "o"),
         "--executor", "local", "--partition", "gpu"],
        env=cli_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and not (tmp_path / "o").exists()
    assert proc.stderr.strip() == (
        "advland: error: --partition is an option of --executor slurm, not of --executor local"
    )
