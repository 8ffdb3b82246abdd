"""Sweep throughput of the executors: a fixed sweep of small runs, with 1 and 2 local
workers and through a Ray started here with 1 and 2 CPUs.

    python -m benchmarks.bench_sweep [--runs 4] [--repeats 2] [--no-ray] [--out FILE]

The sweep is `--runs` real `advland train` runs (LeNet w=1, 1,000 mnist-5k digits,
3 epochs of PGD-3 at ε = 0.1, then the quick PGD-20 evaluation on 100 test digits), each
started from scratch in a fresh root, so nothing is skipped. Every run is its own process
(interpreter and torch start-up, data loading, training, evaluation), so the sweep's
throughput is what `advland reproduce` gets. Contenders are timed round-robin
(`common.interleaved`); throughput is runs per minute of wall time, the speed-up is taken
within each round against 1 local worker. Ray's times include starting Ray (`ray.init`).
Each job gets cores / workers threads locally and its CPUs' worth on Ray.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from advland.experiments.executors import ExecutorOptions
from advland.experiments.jobs import TrainJob
from advland.experiments.sweep import run_sweep
from benchmarks.common import emit, interleaved, machine, paired, stats, table

RUN = (
    "device=cpu",
    "data.name=mnist-5k",
    "data.train_limit=1000",
    "data.test_limit=100",
    "data.val_size=0",
    "train.val_every=0",
    "model.width=1",
    "attack.steps=3",
    "attack.eps=0.1",
    "attack.step_size=0.03",
    "train.batch_size=100",
    "eval.batch_size=100",
    "train.epochs=3",
)


def jobs(n: int) -> list[TrainJob]:
    return [
        TrainJob("quickstart.yaml", (*RUN, f"train.seed={s}"), (("bench", "sweep"), ("seed", s)))
        for s in range(n)
    ]


def sweep(n: int, executor: ExecutorOptions, ray_cpus: int | None = None) -> Callable[[], None]:
    """One contender: the whole sweep in a fresh root (a Ray of `ray_cpus` started first)."""

    def call() -> None:
        root = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
        try:
            if ray_cpus:
                import ray

                ray.init(
                    address="local", num_cpus=ray_cpus, include_dashboard=False, log_to_driver=False
                )
            outcomes = run_sweep(root, jobs(n), [], 1, lambda s: None, executor=executor)
            assert all(o.status == "completed" for o in outcomes), outcomes
        finally:
            if ray_cpus:
                ray.shutdown()
            shutil.rmtree(root, ignore_errors=True)

    return call


def contenders(n: int, with_ray: bool) -> dict[str, Callable[[], None]]:
    out = {
        "local, 1 worker": sweep(n, ExecutorOptions("local", workers=1)),
        "local, 2 workers": sweep(n, ExecutorOptions("local", workers=2)),
    }
    if with_ray:
        out["ray, 1 CPU"] = sweep(n, ExecutorOptions("ray", cpus_per_job=1), ray_cpus=1)
        out["ray, 2 CPUs"] = sweep(n, ExecutorOptions("ray", cpus_per_job=1), ray_cpus=2)
    return out


def measure(n: int, repeats: int, with_ray: bool) -> dict:
    times = interleaved(contenders(n, with_ray), repeats, warmup=0)["wall"]
    base = "local, 1 worker"
    rows = {
        name: {
            "seconds": stats(t),
            "runs_per_min": stats([60 * n / s for s in t]),
            "speedup": paired(times, [base], [name]),
        }
        for name, t in times.items()
    }
    return {
        "runs": n,
        "repeats": repeats,
        "run": list(RUN),
        "contenders": rows,
        "machine": machine(),
    }


def report(result: dict) -> str:
    rows = [
        [name, r["seconds"]["median"], f"{r['seconds']['min']:.1f}–{r['seconds']['max']:.1f}",
         r["runs_per_min"]["median"], r["speedup"]["median"]]
        for name, r in result["contenders"].items()
    ]  # fmt: skip
    head = ["executor", "sweep s (median)", "range", "runs/min", "× vs 1 local worker"]
    load = ", ".join(f"{x:.1f}" for x in result["machine"]["load_average"])
    return (
        f"sweep of {result['runs']} runs, {result['repeats']} rounds;"
        f" {result['machine']['cpu_count']} cores, load average {load}\n" + table(head, rows, ".3g")
    )


def main() -> None:
    # A Ray started by ray.init may write ~/.ray/auth_token; a benchmark leaves no token.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--no-ray", action="store_true", help="local executor only")
    p.add_argument("--out", help="write the results as JSON")
    args = p.parse_args()
    emit(measure(args.runs, args.repeats, not args.no_ray), report, args.out)


if __name__ == "__main__":
    main()
