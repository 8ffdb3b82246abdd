"""Run a sweep's jobs with local worker processes; skip finished runs, resume interrupted ones.

Each job is a separate `python -m advland ...` process, so one crashing or diverging run
never takes the sweep down: its status is read back from its own `summary.json`
(`completed`, `diverged`, `sanity-failed`) or recorded as `failed` with the log's last line.
Killing the sweep leaves every run resumable; rerunning the same command skips completed
runs and resumes the rest from their last checkpoint (`advland train --resume`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from advland.experiments.jobs import AnalysisJob, TrainJob, run_dir_of
from advland.fileio import atomic_write_json, read_json
from advland.runs.rundir import read_summary

FINISHED = ("completed", "diverged", "sanity-failed")


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str  # completed | diverged | sanity-failed | failed | skipped-done
    seconds: float
    detail: str = ""


def train_command(root: Path, job: TrainJob) -> list[str]:
    """The `advland ...` arguments that start, resume or (None-equivalent) skip `job`."""
    run = run_dir_of(root, job)
    if (run / "checkpoints" / "latest.pt").is_file():
        return ["train", "--resume", str(run)]
    return job.argv(run)


def train_status(root: Path, job: TrainJob) -> str | None:
    status = read_summary(run_dir_of(root, job)).get("status")
    return status if status in FINISHED else None


def run_sweep(
    root: Path,
    train_jobs: Sequence[TrainJob],
    analysis_jobs: Sequence[AnalysisJob],
    workers: int,
    log: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Training first (all in parallel), then the analyses that read the trained runs."""
    log = log or _log
    todo = [(j.key, _train_task(root, j)) for j in train_jobs]
    outcomes = _run_all(todo, workers, log, "train")
    todo = [(j.name, _analysis_task(root, j)) for j in analysis_jobs]
    return outcomes + _run_all(todo, workers, log, "analysis")


def _train_task(root: Path, job: TrainJob) -> Callable[[int], Outcome]:
    def task(threads: int) -> Outcome:
        done = train_status(root, job)
        if done:
            return Outcome(job.key, done, 0.0, "already finished")
        run = run_dir_of(root, job)
        if run.exists() and not (run / "checkpoints" / "latest.pt").is_file():
            # Killed before its first checkpoint: nothing to resume, start it again.
            shutil.rmtree(run)
        start = time.perf_counter()
        code, tail = _call(train_command(root, job), root / "logs" / f"{job.key}.log", threads)
        status = train_status(root, job) or "failed"
        seconds = add_job_seconds(root, job.key, time.perf_counter() - start)
        return Outcome(job.key, status, seconds, "" if code == 0 else tail)

    return task


def _analysis_task(root: Path, job: AnalysisJob) -> Callable[[int], Outcome]:
    def task(threads: int) -> Outcome:
        if job.is_done(root):
            return Outcome(job.name, "skipped-done", 0.0, "already finished")
        out = root / job.out
        if job.is_stale(root):  # another recipe's output: set aside, never resumed from
            shutil.rmtree(out.with_name(out.name + ".stale"), ignore_errors=True)
            out.rename(out.with_name(out.name + ".stale"))
        start = time.perf_counter()
        code, tail = _call(job.full_argv(root), root / "logs" / f"{job.name}.log", threads)
        if code == 0 and (out / job.done).is_file():
            job.record(root)
        status = "completed" if code == 0 and job.is_done(root) else "failed"
        seconds = add_job_seconds(root, job.name, time.perf_counter() - start)
        return Outcome(job.name, status, seconds, tail if code else "")

    return task


def job_seconds(root: Path, name: str) -> float:
    """Wall seconds spent on job `name` over all the sweeps that ran it (resumes added up)."""
    path = root / "logs" / f"{name}.time.json"
    return float(read_json(path)["seconds"]) if path.is_file() else 0.0


def add_job_seconds(root: Path, name: str, seconds: float) -> float:
    total = job_seconds(root, name) + seconds
    atomic_write_json(root / "logs" / f"{name}.time.json", {"seconds": round(total, 2)})
    return seconds


def _run_all(todo, workers: int, log, phase: str) -> list[Outcome]:
    if not todo:
        return []
    workers = max(1, min(workers, len(todo)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    start, outcomes = time.perf_counter(), []
    log(f"{phase}: {len(todo)} jobs, {workers} worker(s) × {threads} thread(s)")
    pool = ThreadPoolExecutor(workers)
    try:
        futures = {pool.submit(task, threads): name for name, task in todo}
        for fut in as_completed(futures):
            out = fut.result()
            outcomes.append(out)
            log(_progress_line(phase, outcomes, len(todo), out, time.perf_counter() - start))
    except KeyboardInterrupt:
        # Start nothing new; let the running jobs checkpoint and stop (resume picks them up).
        pool.shutdown(wait=False, cancel_futures=True)
        _interrupt_children()
        raise
    finally:
        pool.shutdown(wait=True)
    return outcomes


def _log(line: str) -> None:
    print(line, flush=True)  # flushed: the sweep's log is often a file watched with tail -f


_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def _interrupt_children() -> None:
    """Forward the interrupt: each running `advland` stops as on Ctrl-C, keeping its checkpoint.

    SIGTERM, not SIGINT: a sweep started in the background (`nohup … &`) passes an ignored
    SIGINT on to its children, while every `advland` command treats SIGTERM as Ctrl-C."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()


def _progress_line(phase: str, done: list[Outcome], total: int, out: Outcome, elapsed: float):
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


def _call(args: list[str], log_path: Path, threads: int) -> tuple[int, str]:
    """Run `python -m advland ARGS`, output to `log_path`; (exit code, last log line)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    with open(log_path, "ab") as log:
        log.write(f"\n$ advland {' '.join(args)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "advland", *args], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        with _LIVE_LOCK:
            _LIVE.add(proc)
        try:
            code = proc.wait()
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
    lines = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return code, (lines[-1] if lines else "")
