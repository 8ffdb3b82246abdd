"""Run every benchmark in one process and print their tables and a targets summary.

    python -m benchmarks [--quick] [--only NAME ...] [--threads N] [--out results.json]

--quick sizes everything for a 2-core CPU (about 7 minutes in all). Benchmarks run one
after another with `--threads` CPU threads (default 1: on a shared machine extra OpenMP
threads mostly spin-wait); the surface benchmark measures 1 and 2 threads itself. Each
benchmark's own module also runs alone: `python -m benchmarks.bench_train_step --help`.
The GPU epoch script is separate: `python -m benchmarks.gpu_epoch`.
"""

from __future__ import annotations

import os

# Before anything imports tqdm (it reads this once): progress bars would interleave tables.
os.environ.setdefault("TQDM_DISABLE", "1")

import argparse
import json
import time
from collections.abc import Callable

import torch

from advland.fileio import atomic_write_json
from benchmarks import (
    bench_autoattack,
    bench_dynamics,
    bench_eigensolvers,
    bench_scaling,
    bench_surface,
    bench_train_step,
)
from benchmarks.common import machine, table

BENCHMARKS: dict[str, tuple[Callable[[bool], dict], Callable[[dict], str]]] = {
    "train_step": (lambda q: bench_train_step.run(quick=q), bench_train_step.report),
    "eigensolvers": (lambda q: bench_eigensolvers.run(quick=q), bench_eigensolvers.report),
    "surface": (lambda q: bench_surface.run(quick=q), bench_surface.report),
    "dynamics": (lambda q: bench_dynamics.run(quick=q), bench_dynamics.report),
    "scaling": (lambda q: bench_scaling.run(quick=q), bench_scaling.report),
    "autoattack": (lambda q: bench_autoattack.run(quick=q), bench_autoattack.report),
}


def _check(value: float, op: str, target: float) -> str:
    return "yes" if (value <= target if op == "<=" else value >= target) else "NO"


def targets(results: dict) -> list[list]:
    """[benchmark, measurement, measured, target, met] for every ratio with a target."""
    rows = []

    def add(bench: str, what: str, value: float, op: str, target: float) -> None:
        rows.append([bench, what, value, f"{op} {target:g}", _check(value, op, target)])

    for c in results.get("train_step", {}).get("cases", []):
        for name, (op, target) in bench_train_step.TARGETS.items():
            if name in c["ratios"]:  # judged on the shipped default (perf: auto)
                value = c["ratios"][name]["median"]
                add("train_step", f"{c['model']}: {name}", value, op, target)
    eig = results.get("eigensolvers")
    if eig:
        for name, rt in eig["ratios"].items():
            if "lower_bound" not in rt:
                continue  # at the paper's settings the power iterations are less accurate
            what = f"{name}{' (lower bound)' if rt['lower_bound'] else ''}"
            add("eigensolvers", f"HVPs {what}", rt["hvps_total"], ">=", 5)
            add("eigensolvers", f"time {what} ({eig['clock']})", rt["seconds"], ">=", 5)
        cpu = eig["hvp_vs_grad_seconds"]["cpu"]
        add("eigensolvers", "one HVP / one gradient (func)", cpu["func"] / cpu["grad"], "<=", 3)
    for r in results.get("surface", {}).get("by_threads", []):
        add("surface", f"grouped / loop, {r['threads']} thread(s)",
            r["speedup_grouped_over_loop"], ">=", 2)  # fmt: skip
    if "dynamics" in results:
        add("dynamics", "recording overhead %", 100 * results["dynamics"]["overhead"], "<=", 5)
    if "scaling" in results:
        s = results["scaling"]["summary"]
        add("scaling", "loader share of epoch %", 100 * s["loader_share_max"], "<=", 2)
        add("scaling", "time per image, largest/smallest set", s["s_per_1k_max_over_min"],
            "<=", 1.2)  # fmt: skip
    for c in results.get("autoattack", {}).get("cases", []):
        for r in c["attacks"]:
            add("autoattack", f"{c['model']}: {r['attack']} / torchattacks", r["ratio"], "<=", 1)
        if "ratio" in c.get("reference", {}):
            add("autoattack", f"{c['model']}: suite / reference AutoAttack",
                c["reference"]["ratio"], "<=", 1)  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sizes for a 2-core CPU (~7 min)")
    ap.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", default=None, help="write all results as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    start, before = time.perf_counter(), machine()
    results, seconds = {}, {}
    for name in args.only:
        run, report = BENCHMARKS[name]
        print(f"\n=== {name} " + "=" * (70 - len(name)), flush=True)
        t = time.perf_counter()
        results[name] = run(args.quick)
        seconds[name] = time.perf_counter() - t
        print(report(results[name]))
        print(f"({name}: {seconds[name]:.0f} s)", flush=True)
    total = time.perf_counter() - start
    rows = targets(results)
    after = machine()
    print("\n=== targets " + "=" * 62)
    print(table(["benchmark", "measurement", "measured", "target", "met"], rows, ".3g"))
    print(f"\n{total:.0f} s in all ({', '.join(f'{n} {s:.0f} s' for n, s in seconds.items())}); "
          f"load average before {before['load_average'][0]:.2f}, after "
          f"{after['load_average'][0]:.2f} on {after['cpu_count']} CPUs")  # fmt: skip
    out = {
        "quick": args.quick, "threads": args.threads, "seconds": seconds, "total_s": total,
        "machine_before": before, "machine_after": after,
        "targets": [dict(zip(["benchmark", "measurement", "measured", "target", "met"], r,
                             strict=True)) for r in rows],
        "results": results,
    }  # fmt: skip
    if args.out:
        json.dumps(out)  # fails loudly if anything is not serialisable
        atomic_write_json(args.out, out)
        print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
