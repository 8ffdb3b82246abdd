"""Data-parallel training: measured 1 vs 2 gloo ranks on this CPU, and a cost model of DDP
for the paper's models at the paper's batch sizes.

    python -m benchmarks.bench_ddp                 # both parts
    python -m benchmarks.bench_ddp --only cost     # the cost model only (seconds)
    python -m benchmarks.bench_ddp --only ranks --repeats 2

`ranks`: one epoch of `advland train` (LeNet w=4, PGD-10, mnist-5k: 3,000 training
digits, global batch 128) in one process and under `torchrun --nproc-per-node 2` (gloo),
alternating, `repeats` times each; the images/s of the epoch is read from metrics.jsonl
(training only: validation and the final evaluation are not in it).

`cost`: per training step, the all-reduce volume (parameters × 4 bytes, float32 gradients)
against the compute of the step: k PGD steps (forward + input gradient) and the update
(forward + backward), FLOPs per example counted by `torch.utils.flop_counter` on the
models of the registry. Communication time = latency + 2(W−1)/W · bytes / bandwidth (ring
all-reduce); compute time = (global batch / W) · FLOPs per example / throughput. The
interconnects and the GPU throughput are assumptions, printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from advland.models import build_model

ROOT = Path(__file__).resolve().parents[1]

# The paper's models and training settings (src/advland/configs): name, width, input, batch,
# PGD steps of the training attack.
MODELS = (
    ("LeNet w=16 (MNIST)", "lenet", 16, (1, 28, 28), 128, 50),
    ("VGG16 w=8 (CIFAR-10)", "vgg", 8, (3, 32, 32), 128, 10),
    ("ResNet18 w=8 (CIFAR-10)", "resnet18", 8, (3, 32, 32), 128, 10),
)
# Assumptions of the cost model (not measured here).
GPU_FLOPS = 100e12  # effective FLOP/s of one GPU on these small conv nets
LINKS = {  # name: (bus bandwidth in bytes/s, latency of one all-reduce in s)
    "NVLink, one node": (200e9, 20e-6),
    "100 Gb/s between nodes": (12.5e9, 50e-6),
}
WORLDS = (2, 4, 8, 16, 32, 64)

SETS = [
    "data.name=mnist-5k",
    "model.width=4",
    "attack.steps=10",
    "attack.step_size=0.04",
    "train.batch_size=128",
    "train.epochs=1",
    "train.val_every=0",
    "data.test_limit=50",
    "eval.suite=quick",
    "device=cpu",
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_argv(out: Path, ranks: int) -> list[str]:
    """The exact command of one measurement."""
    sets = [a for s in SETS for a in ("--set", s)]
    args = ["-m", "advland", "train", "--config", "mnist-lenet-constant", *sets, "--out", str(out)]
    if ranks == 1:
        return [sys.executable, *args]
    rdzv = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_port()}"]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(ranks),
        *rdzv,
        *args,
    ]


def one_epoch(ranks: int) -> float:
    """images/s of one training epoch with `ranks` processes (one thread each)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        subprocess.run(train_argv(out, ranks), cwd=ROOT, env=env, check=True, capture_output=True)
        row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    return float(row["images_per_s"])


def ranks_benchmark(repeats: int) -> dict:
    runs: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for ranks in (1, 2):
            runs[ranks].append(one_epoch(ranks))
    return {str(k): {"images_per_s": v, "median": statistics.median(v)} for k, v in runs.items()}


def flops_per_example(name: str, width: int, shape: tuple[int, ...]) -> dict[str, float]:
    """FLOPs of one example: an attack step (forward + input gradient) and the update
    (forward + backward to the parameters)."""
    model = build_model(name, width=width, in_channels=shape[0], image_size=shape[1])
    model.eval()
    leaf, y = torch.rand(1, *shape, requires_grad=True), torch.zeros(1, dtype=torch.long)
    x = leaf * 1.0  # a non-leaf input: FlopCounterMode's hooks reject grad() of a leaf
    with FlopCounterMode(display=False) as attack:
        torch.autograd.grad(F.cross_entropy(model(x), y), x)
    model.train()
    batch = torch.rand(2, *shape)  # 2 examples: BatchNorm needs more than one in train mode
    with FlopCounterMode(display=False) as update:
        F.cross_entropy(model(batch), torch.zeros(2, dtype=torch.long)).backward()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "params": params,
        "attack_step": attack.get_total_flops(),
        "update": update.get_total_flops() / 2,
    }


def cost_model() -> list[dict]:
    rows = []
    for label, name, width, shape, batch, steps in MODELS:
        f = flops_per_example(name, width, shape)
        step_flops = batch * (steps * f["attack_step"] + f["update"])
        volume = 4 * f["params"]
        for link, (bandwidth, latency) in LINKS.items():
            for world in WORLDS:
                compute = step_flops / world / GPU_FLOPS
                comm = latency + 2 * (world - 1) / world * volume / bandwidth
                rows.append(
                    {
                        "model": label,
                        "params": f["params"],
                        "allreduce_MB": volume / 1e6,
                        "step_GFLOP": step_flops / 1e9,
                        "link": link,
                        "world": world,
                        "per_gpu_batch": batch / world,
                        "compute_ms": 1e3 * compute,
                        "comm_ms": 1e3 * comm,
                        "comm_over_compute": comm / compute,
                    }
                )
    return rows


def print_cost(rows: list[dict]) -> None:
    print(
        f"assumed: {GPU_FLOPS / 1e12:g} TFLOP/s effective per GPU; "
        + "; ".join(f"{k}: {b / 1e9:g} GB/s, {lat * 1e6:g} us" for k, (b, lat) in LINKS.items())
    )
    head = "model | params | all-reduce MB | step GFLOP | link | W | batch/GPU | compute ms | comm ms | comm/compute"
    print(head)
    for r in rows:
        print(
            f"{r['model']} | {r['params']:,} | {r['allreduce_MB']:.3f} | {r['step_GFLOP']:.1f} | "
            f"{r['link']} | {r['world']} | {r['per_gpu_batch']:g} | {r['compute_ms']:.3f} | "
            f"{r['comm_ms']:.3f} | {r['comm_over_compute']:.3f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("ranks", "cost"))
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    if args.only in (None, "cost"):
        print_cost(cost_model())
    if args.only in (None, "ranks"):
        print("command (2 ranks):", " ".join(train_argv(Path("RUN"), 2)))
        result = ranks_benchmark(args.repeats)
        for ranks, r in result.items():
            runs = ", ".join(f"{v:.0f}" for v in r["images_per_s"])
            print(f"{ranks} process(es): median {r['median']:.0f} images/s (runs: {runs})")


if __name__ == "__main__":
    main()
