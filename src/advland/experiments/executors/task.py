"""One sweep job as the process it runs, wherever an executor runs it.

A `Task` is a training run or an analysis of a sweep; calling it starts (or resumes, or
skips) that job as a plain `python -m advland train|analyze ...` child process and returns
its `Outcome`. Every executor calls the same `Task`, so skipping finished runs, resuming
from the last checkpoint, crash isolation and the per-job time accounting are identical
whether the call happens in a local thread, in a Ray task or in a Slurm job.

The child dies with the thread that started it (Linux `PR_SET_PDEATHSIG`): when a Ray
worker or a Slurm job step is killed, its `advland train` goes with it, so a retried task
never trains the same run beside an orphan of the first attempt.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from advland.experiments.jobs import AnalysisJob, TrainJob, run_dir_of
from advland.fileio import atomic_write_json, read_json
from advland.runs.rundir import read_summary

FINISHED = ("completed", "diverged", "sanity-failed")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str  # completed | diverged | sanity-failed | failed | skipped-done
    seconds: float
    detail: str = ""


def train_command(root: Path, job: TrainJob) -> list[str]:
    """The `advland ...` arguments that start `job`, or resume it from its last checkpoint."""
    run = run_dir_of(root, job)
    if (run / "checkpoints" / "latest.pt").is_file():
        return ["train", "--resume", str(run)]
    return job.argv(run)


def train_status(root: Path, job: TrainJob) -> str | None:
    status = read_summary(run_dir_of(root, job)).get("status")
    return status if status in FINISHED else None


@dataclass(frozen=True)
class Task:
    """A picklable sweep job: `task(threads, env)` runs it to its `Outcome`. `env` adds
    variables to the child's environment (e.g. `CUDA_VISIBLE_DEVICES` of a local slot)."""

    root: Path
    job: TrainJob | AnalysisJob

    @property
    def name(self) -> str:
        return self.job.key if isinstance(self.job, TrainJob) else self.job.name

    def __call__(self, threads: int, env: Mapping[str, str] | None = None) -> Outcome:
        if isinstance(self.job, TrainJob):
            return run_train(self.root, self.job, threads, env or {})
        return run_analysis(self.root, self.job, threads, env or {})


def run_train(root: Path, job: TrainJob, threads: int, env: Mapping[str, str]) -> Outcome:
    """Skip a finished run, restart one killed before its first checkpoint, else resume."""
    done = train_status(root, job)
    if done:
        return Outcome(job.key, done, 0.0, "already finished")
    run = run_dir_of(root, job)
    if run.exists() and not (run / "checkpoints" / "latest.pt").is_file():
        # Killed before its first checkpoint: nothing to resume, start it again.
        shutil.rmtree(run)
    start = time.perf_counter()
    log_path = root / "logs" / f"{job.key}.log"
    code, tail = call(train_command(root, job), log_path, threads, env)
    status = train_status(root, job) or "failed"
    seconds = add_job_seconds(root, job.key, time.perf_counter() - start)
    return Outcome(job.key, status, seconds, "" if code == 0 else tail)


def run_analysis(root: Path, job: AnalysisJob, threads: int, env: Mapping[str, str]) -> Outcome:
    """Skip an analysis made by the same command; set aside one made by another."""
    if job.is_done(root):
        return Outcome(job.name, "skipped-done", 0.0, "already finished")
    out = root / job.out
    if job.is_stale(root):  # another recipe's output: set aside, never resumed from
        shutil.rmtree(out.with_name(out.name + ".stale"), ignore_errors=True)
        out.rename(out.with_name(out.name + ".stale"))
    start = time.perf_counter()
    code, tail = call(job.full_argv(root), root / "logs" / f"{job.name}.log", threads, env)
    if code == 0 and (out / job.done).is_file():
        job.record(root)
    status = "completed" if code == 0 and job.is_done(root) else "failed"
    seconds = add_job_seconds(root, job.name, time.perf_counter() - start)
    return Outcome(job.name, status, seconds, tail if code else "")


def job_seconds(root: Path, name: str) -> float:
    """Wall seconds spent on job `name` over all the sweeps that ran it (resumes added up)."""
    path = root / "logs" / f"{name}.time.json"
    return float(read_json(path)["seconds"]) if path.is_file() else 0.0


def add_job_seconds(root: Path, name: str, seconds: float) -> float:
    total = job_seconds(root, name) + seconds
    atomic_write_json(root / "logs" / f"{name}.time.json", {"seconds": round(total, 2)})
    return seconds


class Progress:
    """The driver's progress lines of one phase: each job's status and time, the ETA."""

    def __init__(self, phase: str, total: int, log: Callable[[str], None]) -> None:
        self.phase, self.total, self.log = phase, total, log
        self.start = time.perf_counter()
        self.outcomes: list[Outcome] = []

    def done(self, out: Outcome) -> None:
        self.outcomes.append(out)
        elapsed = time.perf_counter() - self.start
        self.log(progress_line(self.phase, self.outcomes, self.total, out, elapsed))


def progress_line(phase: str, done: list[Outcome], total: int, out: Outcome, elapsed: float):
    ran = [o for o in done if o.seconds > 0]
    remaining = total - len(done)
    eta = elapsed / len(done) * remaining if done else 0.0
    note = f" — {out.detail}" if out.detail and out.status == "failed" else ""
    if out.detail == "already finished":
        return f"[{phase} {len(done)}/{total}] {out.name}: {out.status} earlier, skipped"
    return (
        f"[{phase} {len(done)}/{total}] {out.name}: {out.status} in {out.seconds:.0f}s"
        f" (elapsed {elapsed:.0f}s, {len(ran)} ran, ETA {eta:.0f}s){note}"
    )


LIVE: set[subprocess.Popen] = set()
LIVE_LOCK = threading.Lock()


def interrupt_children() -> None:
    """Forward an interrupt: each running `advland` stops as on Ctrl-C, keeping its checkpoint.

    SIGTERM, not SIGINT: a sweep started in the background (`nohup … &`) passes an ignored
    SIGINT on to its children, while every `advland` command treats SIGTERM as Ctrl-C."""
    with LIVE_LOCK:
        procs = list(LIVE)
    for p in procs:
        _stop(p)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()


def call(
    args: list[str], log_path: Path, threads: int, extra_env: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """Run `python -m advland ARGS`, output to `log_path`; (exit code, last log line).
    An exception in the wait (Ctrl-C, a Ray cancel, submitit's exit on preemption) stops
    the child at its last checkpoint before it propagates."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    env.update(extra_env or {})
    with open(log_path, "ab") as log:
        shown = "".join(f"{k}={v} " for k, v in (extra_env or {}).items())
        log.write(f"\n$ {shown}advland {' '.join(args)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "advland", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
        )
        with LIVE_LOCK:
            LIVE.add(proc)
        try:
            code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            with LIVE_LOCK:
                LIVE.discard(proc)
    lines = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return code, (lines[-1] if lines else "")


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


_LIBC = _libc()  # loaded before any fork: the child only calls into it


def _die_with_parent(parent: int) -> None:
    """In the forked child, before exec: SIGKILL when the starting thread dies (Linux), and
    ignore SIGUSR2, Slurm's pre-timeout signal, which is for submitit (it requeues the job;
    the run then stops on Slurm's SIGTERM at its last checkpoint) and would kill the run."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(137)
