"""Overhead of recording per-minibatch training dynamics (gradient norm, batch error, ‖θ−θ0‖).

Runs the real `train_one_epoch` on the same data with `train.dynamics` off and `all`,
interleaved, and prints the median epoch time of each and the overhead ratio (target < 5%).

    python -m benchmarks.bench_dynamics [--quick] [--out results.json]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from advland.config import build_config, to_dict
from advland.data import DeviceLoader, load_splits
from advland.runs.checkpoint import Generators
from advland.runs.model import build_run_model
from advland.training.dynamics import DynamicsRecorder
from advland.training.loop import train_one_epoch
from advland.training.setup import build_optimizer, eps_schedule, lr_schedule
from advland.training.state import Trainer
from benchmarks.common import emit, machine, table


def epoch_seconds(cfg, splits, mode: str) -> float:
    torch.manual_seed(0)
    model = build_run_model(cfg, splits, torch.device("cpu"))
    opt = build_optimizer(model, cfg)
    gens = Generators.seeded(0)
    loader = DeviceLoader(
        splits.train,
        cfg.train.batch_size,
        device=torch.device("cpu"),
        shuffle=True,
        generator=gens.data,
    )
    nb = len(loader)
    theta0 = [p.detach().clone() for p in model.parameters()]
    rec = DynamicsRecorder(model, theta0, mode, 0, nb)
    start = time.perf_counter()
    trainer = Trainer(cfg, model, opt, loader, nb, eps_schedule(cfg), lr_schedule(cfg), gens, rec)
    train_one_epoch(trainer, 0)
    rec.flush(1)
    return time.perf_counter() - start


def run(quick: bool = False, repeats: int | None = None) -> dict:
    repeats = repeats or (3 if quick else 5)
    width = 4 if quick else 16
    cfg = build_config(
        "configs/quickstart.yaml",
        [
            f"model.width={width}",
            "data.train_limit=1024",
            "data.val_size=0",
            "train.val_every=0",
        ],
    )
    splits = load_splits(cfg.data)
    times = {"off": [], "all": []}
    for _ in range(repeats):
        for mode in times:  # interleaved so drift in machine load hits both alike
            times[mode].append(epoch_seconds(cfg, splits, mode))
    med = {m: statistics.median(v) for m, v in times.items()}
    return {
        "benchmark": "dynamics",
        "config": to_dict(cfg),
        "width": width,
        "repeats": repeats,
        "machine": machine(),
        "times": times,
        "overhead": med["all"] / med["off"] - 1,
    }


def report(result: dict) -> str:
    cfg, times = result["config"], result["times"]
    out = [
        f"LeNet w={result['width']}, 1024 mnist-5k digits, PGD-{cfg['attack']['steps']}, batch "
        f"{cfg['train']['batch_size']}, {result['machine']['threads']} threads, "
        f"{result['repeats']} repeats (wall s per epoch)"
    ]
    rows = [[m, statistics.median(v), min(v), max(v)] for m, v in times.items()]
    out.append(table(["dynamics", "median s", "min s", "max s"], rows, ".3f"))
    out.append(
        f"  overhead of recording every minibatch: {100 * result['overhead']:+.2f}% (target < 5%)"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    result = run(args.quick, args.repeats)
    emit(result, report, args.out)
    return result


if __name__ == "__main__":
    main()
