"""Benchmark: 2-D adversarial loss surface, batched vs one grid point at a time.

Contenders: "grouped" (all points of a call as one network with P× the channels, in
channels_last: what `mode: auto` runs on these models), "vmap" (all points of a call
vmapped over stacked parameters), "loop" (one point at a time in NCHW, PyTorch's default
layout: the issue's baseline) and "loop NHWC" (one point at a time in channels_last, the
loop path's default, the strongest one-at-a-time contender).

    python -m benchmarks.bench_surface [--quick] [--out FILE] [--threads 1 2] [--device D]

LeNet (paper Table 2) on MNIST-shaped inputs (1×28×28 in [0,1], synthetic: speed does not
depend on pixel values), the same grid, directions, data and PGD settings for every path.
All paths run interleaved (median of repeats), at each CPU thread count given (default 1
and 2, in one process). Reports grid points per second (from CPU time at one thread, where
it is robust to other jobs on the machine; wall time otherwise), the speed-up of the
default batched path over the NCHW loop (target ≥ 2× on CPU) and over the NHWC loop, and
the largest difference between the grids (same computation; float32 sign
flips in PGD's ascent direction may move a point by ~1e-4). Writes JSON to --out.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
from dataclasses import asdict

import numpy as np
import torch

from advland.analysis.landscape.surface import SurfaceConfig, loss_surface
from advland.attacks.spec import AttackConfig
from advland.device import pick_device
from advland.models import build_model
from benchmarks.common import emit, interleaved, machine, ratio_clock, stats, table

SETTINGS = {
    # quick: ~1 min on 2 CPU cores; full: a Fig.-12-like grid on a GPU
    "quick": dict(width=2, examples=32, n=6, steps=5, points_per_batch=36, batch_size=32),
    "full": dict(width=16, examples=512, n=21, steps=20, points_per_batch=32, batch_size=256),
}


# contender -> (SurfaceConfig.mode, channels_last for the grouped and loop paths)
CONTENDERS = {
    "grouped": ("grouped", True),
    "vmap": ("vmap", False),
    "loop": ("loop", False),
    "loop NHWC": ("loop", True),
}


def surface_config(s: dict, mode: str, channels_last: bool = False) -> SurfaceConfig:
    return SurfaceConfig(
        a1=(-1.0, 1.0),
        n1=s["n"],
        a2=(-1.0, 1.0),
        n2=s["n"],
        eps=(0.3,),
        attack=AttackConfig(eps=0.3, steps=s["steps"], step_size=0.01),
        batch_size=s["batch_size"],
        points_per_batch=s["points_per_batch"],
        mode=mode,
        channels_last=channels_last,
        seed=0,
    )


def _surface(model, x, y, cfg: SurfaceConfig, out: dict, name: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # loss_surface prints a summary table
        out[name] = loss_surface(model, (x, y), cfg).loss


def measure(quick: bool, device: torch.device, repeats: int, **overrides) -> dict:
    """Both paths on the same grid, interleaved; medians of `repeats` timed runs."""
    s = {**SETTINGS["quick" if quick else "full"], **{k: v for k, v in overrides.items() if v}}
    torch.manual_seed(0)
    model = build_model("lenet", width=s["width"]).to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(s["examples"], 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (s["examples"],), generator=g).to(device)
    grids: dict = {}
    contenders = {
        name: functools.partial(_surface, model, x, y, surface_config(s, *how), grids, name)
        for name, how in CONTENDERS.items()
    }
    # first calls (kernel selection, allocator) are the untimed warm-up round
    times = interleaved(contenders, repeats, device=device)
    clock = ratio_clock(device)
    points = grids["grouped"].size
    rows = [
        {
            "mode": m,
            "points": points,
            "seconds": stats(times["wall"][m]),
            "cpu_seconds": stats(times["cpu"][m]),
            "points_per_s": points / stats(times[clock][m])["median"],
        }
        for m in contenders
    ]
    rate = {r["mode"]: r["points_per_s"] for r in rows}
    return {
        "threads": torch.get_num_threads(),
        "clock": clock,
        "rows": rows,
        # the ratio: the default batched path vs one point at a time in NCHW
        "speedup_grouped_over_loop": rate["grouped"] / rate["loop"],
        "speedup_grouped_over_loop_nhwc": rate["grouped"] / rate["loop NHWC"],
        "speedup_vmap_over_loop": rate["vmap"] / rate["loop"],
        "max_abs_loss_diff": max(
            float(np.abs(grids["grouped"] - grids[m]).max()) for m in contenders
        ),
        "settings": s,
    }


def run(
    quick: bool = False,
    device: torch.device | None = None,
    repeats: int = 3,
    threads: tuple[int, ...] = (1, 2),
    **overrides,
) -> dict:
    """The measurement at each CPU thread count in `threads` (one run on a GPU)."""
    device = device or pick_device("auto")
    before = torch.get_num_threads()
    results = []
    try:
        for n in threads if device.type == "cpu" else (before,):
            torch.set_num_threads(n)
            results.append(measure(quick, device, repeats, **overrides))
    finally:
        torch.set_num_threads(before)
    s = results[0]["settings"]
    return {
        "benchmark": "surface",
        "scale": "quick" if quick else "full",
        "settings": s,
        "repeats": repeats,
        "config": asdict(surface_config(s, "grouped", True)),
        "device": str(device),
        "machine": machine(),
        "by_threads": results,
    }


def report(result: dict) -> str:
    s = result["settings"]
    out = [
        f"LeNet w={s['width']} on {result['device']}, {s['examples']} examples, "
        f"{s['n']}x{s['n']} grid, PGD-{s['steps']} at every point, {s['points_per_batch']} "
        f"points per batched call, median of {result['repeats']}"
    ]
    rows = []
    for r in result["by_threads"]:
        for row in r["rows"]:
            rows.append(
                [
                    r["threads"],
                    row["mode"],
                    row["seconds"]["median"],
                    row["seconds"]["min"],
                    row["seconds"]["max"],
                    row["cpu_seconds"]["median"],
                    row["points_per_s"],
                ]
            )
    heads = ["threads", "mode", "median s", "min s", "max s", "CPU s", "points/s"]
    out.append(table(heads, rows, ".2f"))
    for r in result["by_threads"]:
        out.append(
            f"  {r['threads']} thread(s), {r['clock']} time: speed-up grouped/loop "
            f"{r['speedup_grouped_over_loop']:.2f}x (target >= 2x on CPU), grouped/loop "
            f"NHWC {r['speedup_grouped_over_loop_nhwc']:.2f}x, vmap/loop "
            f"{r['speedup_vmap_over_loop']:.2f}x; max |dloss| "
            f"{r['max_abs_loss_diff']:.1e}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small grid/model for a CPU (~1 min)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU thread counts")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per mode (median kept)")
    keys = ("width", "examples", "n", "steps", "points_per_batch", "batch_size")
    for name in keys:
        ap.add_argument(f"--{name.replace('_', '-')}", type=int, default=None)
    args = ap.parse_args(argv)
    overrides = {k: getattr(args, k) for k in keys}
    device = pick_device(args.device)
    result = run(args.quick, device, args.repeats, tuple(args.threads), **overrides)
    emit(result, report, args.out)
    return result


if __name__ == "__main__":
    main()
