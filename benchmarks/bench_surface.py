"""Benchmark: 2-D adversarial loss surface, batched (vmap) vs one grid point at a time.

    python -m benchmarks.bench_surface [--quick] [--out FILE] [--threads N] [--device D]

LeNet (paper Table 2) on MNIST-shaped inputs (1×28×28 in [0,1], synthetic: speed does not
depend on pixel values), the same grid, directions, data and PGD settings for both paths.
Reports grid points per second, the speed-up (target ≥ 2× on CPU) and the largest
difference between the two grids (same computation; float32 sign flips in PGD's ascent
direction may move a point by ~1e-4). Writes the numbers as JSON to --out.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import asdict

import numpy as np
import torch

from advland.analysis.surface import SurfaceConfig, loss_surface
from advland.device import pick_device
from advland.fileio import atomic_write_json
from advland.models import build_model

SETTINGS = {
    # quick: ~1 min on 2 CPU cores; full: a Fig.-12-like grid on a GPU
    "quick": dict(width=2, examples=32, n=6, steps=5, points_per_batch=36, batch_size=32),
    "full": dict(width=16, examples=512, n=21, steps=20, points_per_batch=32, batch_size=256),
}


def surface_config(s: dict, mode: str) -> SurfaceConfig:
    return SurfaceConfig(
        a1=(-1.0, 1.0), n1=s["n"], a2=(-1.0, 1.0), n2=s["n"], eps=(0.3,), steps=s["steps"],
        step_size=0.01, batch_size=s["batch_size"], points_per_batch=s["points_per_batch"],
        mode=mode, seed=0,
    )  # fmt: skip


def _timed(model, x, y, cfg: SurfaceConfig, device: torch.device) -> tuple[float, np.ndarray]:
    if device.type == "cuda":
        torch.cuda.synchronize()  # host-device sync: time only this surface
    start = time.perf_counter()
    res = loss_surface(model, (x, y), cfg)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, res.loss


def run(quick: bool, device: torch.device, repeats: int = 3, **overrides) -> dict:
    s = {**SETTINGS["quick" if quick else "full"], **{k: v for k, v in overrides.items() if v}}
    torch.manual_seed(0)
    model = build_model("lenet", width=s["width"]).to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(s["examples"], 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (s["examples"],), generator=g).to(device)
    warm = SurfaceConfig(a1=(-1, 1), n1=2, a2=None, eps=(0.3,), steps=1, step_size=0.01)
    for mode in ("vmap", "loop"):  # first-call costs (kernel selection, allocator) excluded
        loss_surface(model, (x[:4], y[:4]), SurfaceConfig(**{**asdict(warm), "mode": mode}))
    times, grids = {"vmap": [], "loop": []}, {}
    for _ in range(repeats):  # interleaved, best of `repeats`: robust to a shared machine
        for mode in ("vmap", "loop"):
            seconds, grids[mode] = _timed(model, x, y, surface_config(s, mode), device)
            times[mode].append(seconds)
    points = grids["vmap"].size
    rows = [
        {"mode": m, "points": points, "seconds": min(t), "seconds_all": t,
         "points_per_s": points / min(t)}
        for m, t in times.items()
    ]  # fmt: skip
    ratio = rows[0]["points_per_s"] / rows[1]["points_per_s"]
    return {
        "benchmark": "bench_surface",
        "scale": "quick" if quick else "full",
        "settings": s,
        "repeats": repeats,
        "config": asdict(surface_config(s, "vmap")),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "rows": rows,
        "speedup_vmap_over_loop": ratio,
        "max_abs_loss_diff": float(np.abs(grids["vmap"] - grids["loop"]).max()),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small grid/model for a CPU (~1 min)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per mode (best kept)")
    for name in ("width", "examples", "n", "steps", "points_per_batch", "batch_size"):
        ap.add_argument(f"--{name.replace('_', '-')}", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    keys = ("width", "examples", "n", "steps", "points_per_batch", "batch_size")
    overrides = {k: getattr(args, k) for k in keys}
    result = run(args.quick, pick_device(args.device), args.repeats, **overrides)
    print(f"\nLeNet-{result['settings']['width']} on {result['device']}, "
          f"{result['threads']} threads, {result['settings']['examples']} examples, "
          f"PGD-{result['settings']['steps']}")  # fmt: skip
    print(f"{'mode':<6} {'points':>7} {'best s':>9} {'points/s':>10}")
    for r in result["rows"]:
        print(f"{r['mode']:<6} {r['points']:>7} {r['seconds']:>9.2f} {r['points_per_s']:>10.2f}")
    print(f"speed-up vmap/loop: {result['speedup_vmap_over_loop']:.2f}x (target >= 2x on CPU); "
          f"max |Δloss| = {result['max_abs_loss_diff']:.2e}")  # fmt: skip
    if args.out:
        atomic_write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
