"""What every benchmark shares: interleaved timing, summary statistics, plain-text tables.

Contenders are timed round-robin (one call of each per round, the order rotated by one
every round so that no contender always follows the same one), so drift in machine load —
this project's machines are shared — hits all of them alike; medians over rounds are
reported with the min–max range; a ratio of two contenders is taken within each round and
its median over rounds reported (`paired`). Both wall time and process CPU time are recorded: with
one thread and other jobs on the machine, CPU time leaves out the time this process
waited for a core, so ratios are computed from it there (`clock` says which was used).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from advland.fileio import atomic_write_json

CPU = torch.device("cpu")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()  # host-device sync: time only the work itself


def interleaved(
    contenders: dict[str, Callable[[], object]],
    repeats: int,
    *,
    warmup: int = 1,
    device: torch.device = CPU,
) -> dict[str, dict[str, list[float]]]:
    """Seconds per call of each contender: `warmup` untimed rounds, then `repeats` rounds.

    Returns {"wall": {name: [s, ...]}, "cpu": {name: [s, ...]}}."""
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    times: dict[str, dict[str, list[float]]] = {"wall": {}, "cpu": {}}
    for name in contenders:
        times["wall"][name], times["cpu"][name] = [], []
    names = list(contenders)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = contenders[name]
            sync(device)
            start, cpu = time.perf_counter(), time.process_time()
            fn()
            sync(device)
            times["wall"][name].append(time.perf_counter() - start)
            times["cpu"][name].append(time.process_time() - cpu)
    return times


def ratio_clock(device: torch.device = CPU) -> str:
    """CPU time for single-threaded CPU runs (robust to a shared machine), else wall time."""
    return "cpu" if device.type == "cpu" and torch.get_num_threads() == 1 else "wall"


def paired(times: dict[str, list[float]], num: list[str], den: list[str]) -> dict:
    """sum(num)/sum(den) within each round, then median and range over rounds: a load
    change between rounds cancels out (the contenders of one round ran seconds apart)."""
    rounds = range(len(times[num[0]]))
    per_round = [sum(times[n][r] for n in num) / sum(times[d][r] for d in den) for r in rounds]
    return stats(per_round) | {"all": per_round}


def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def table(headers: list[str], rows: list[list], floatfmt: str = ".4g") -> str:
    """A left-aligned first column and right-aligned others; floats formatted by floatfmt."""
    cells = [[f"{c:{floatfmt}}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(items: list[str]) -> str:
        first = f"{items[0]:<{widths[0]}}"
        return "  ".join(
            [first, *(f"{c:>{w}}" for c, w in zip(items[1:], widths[1:], strict=True))]
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def machine() -> dict:
    """Where and under what load a result was measured (load averages: 1, 5, 15 min)."""
    return {
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def emit(result: dict, report, out: str | None) -> None:
    """Print a benchmark's report and, with --out, write its results as JSON."""
    print(report(result))
    if out:
        atomic_write_json(out, result)
