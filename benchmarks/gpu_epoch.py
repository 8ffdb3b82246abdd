"""Time one full CIFAR-10 ResNet18 (w=8) PGD-10 adversarial-training epoch on a GPU.

    python -m benchmarks.gpu_epoch [--out gpu_epoch.json] [--set perf.compile=off ...]
    python -m benchmarks.gpu_epoch --dry-run      # same code path, tiny, on the CPU

The recipe is configs/cifar10-resnet18-constant.yaml (the paper's: batch 128, PGD-10 at
ε = 8/255 with step 2/255, SGD + Nesterov, pad-4 crop + flip on the device). The data are
50,000 synthetic CIFAR-shaped uint8 images with random labels — the GPU machine cannot
download CIFAR-10, and the cost of an epoch does not depend on pixel values. The real
`DeviceLoader` and `train_one_epoch` run with the `perf` switches resolved for the device
("auto" on CUDA: bf16 autocast, channels_last, torch.compile, last partial batch dropped).

A warm-up of `--warmup-batches` batches (compilation, cuDNN autotuning) is timed
separately; then one full epoch is timed. Prints images/s, seconds per epoch and the
projected time of the paper's 200 epochs (training only: validation and the final
evaluation are not included). The target on one H200-class GPU is <= 10 s per epoch.

--dry-run: the CPU, ResNet18 w=1, 256 images in batches of 32, 2 warm-up batches, bf16
autocast and channels_last on, compile off (inductor's CPU compile takes minutes); it
checks that the script and the GPU code path run, not their speed.
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import replace

import torch

from advland.config import build_config, to_dict
from advland.data import DeviceLoader
from advland.data.splits import Split
from advland.fileio import atomic_write_json
from advland.models import build_model
from advland.runs.checkpoint import Generators
from advland.training.dynamics import DynamicsRecorder
from advland.training.loop import train_one_epoch
from advland.training.setup import build_optimizer, eps_schedule, lr_schedule, resolve_perf
from advland.training.state import Trainer
from benchmarks.common import machine, sync

RECIPE = "configs/cifar10-resnet18-constant.yaml"
DRY = [
    "model.width=1",
    "train.batch_size=32",
    "perf.amp=bf16",
    "perf.channels_last=on",
    "perf.compile=off",
]


def synthetic_cifar(n: int, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n,), generator=g)
    return Split(x, y, torch.arange(n))


def loader_epoch(loader: DeviceLoader, device: torch.device) -> float:
    """Seconds for one epoch of the loader alone (crop + flip and float conversion on the
    device), with its own generator so training's random state is untouched."""
    loader = copy.copy(loader)
    loader.generator = torch.Generator().manual_seed(1)
    sync(device)
    start = time.perf_counter()
    for x, _ in loader:
        x.sum()  # touch the batch: nothing is left lazily undone
    sync(device)
    return time.perf_counter() - start


def run(
    dry_run: bool = False,
    images: int | None = None,
    warmup_batches: int | None = None,
    overrides: list[str] | None = None,
) -> dict:
    images = images or (256 if dry_run else 50_000)
    warmup_batches = warmup_batches or (2 if dry_run else 30)
    cfg = build_config(RECIPE, [*(DRY if dry_run else []), *(overrides or [])])
    device = (
        torch.device("cpu")
        if dry_run
        else torch.device(cfg.device if cfg.device != "auto" else "cuda")
    )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; use --dry-run to check the script on the CPU")
    perf = resolve_perf(cfg, device)
    torch.manual_seed(cfg.train.seed)
    model = build_model("resnet18", width=cfg.model.width, in_channels=3, image_size=32)
    model = model.to(device)
    if perf.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(model, cfg)
    net = torch.compile(model) if perf.compile else model
    gens = Generators.seeded(cfg.train.seed)
    loader = DeviceLoader(
        synthetic_cifar(images),
        cfg.train.batch_size,
        device=device,
        shuffle=True,
        generator=gens.data,
        augment="crop-flip",
        drop_last=perf.compile,
    )
    trainer = Trainer(
        cfg=cfg,
        net=net,
        opt=opt,
        loader=loader,
        batches=len(loader),
        eps_at=eps_schedule(cfg),
        lr_at=lr_schedule(cfg),
        gens=gens,
        recorder=DynamicsRecorder(model, [], "off", 0, len(loader)),
        perf=perf,
    )

    def epoch(index: int, batches: int) -> float:
        sync(device)
        start = time.perf_counter()
        # ends with a host sync: the epoch's loss
        train_one_epoch(replace(trainer, batches=batches), index)
        sync(device)
        return time.perf_counter() - start

    warmup_s = epoch(0, min(warmup_batches, len(loader)))
    epoch_s = epoch(1, len(loader))
    loader_s = loader_epoch(loader, device)
    trained = len(loader) * cfg.train.batch_size if loader.drop_last else images
    result = {
        "benchmark": "gpu_epoch",
        "dry_run": dry_run,
        "device": str(device),
        "machine": machine(),
        "recipe": RECIPE,
        "config": to_dict(cfg),
        "perf": {
            "amp": str(perf.amp),
            "channels_last": perf.channels_last,
            "compile": perf.compile,
        },
        "data": f"{images} synthetic CIFAR-shaped uint8 images (random labels)",
        "images_trained": trained,
        "batches": len(loader),
        "warmup_batches": warmup_batches,
        "warmup_s": warmup_s,
        "epoch_s": epoch_s,
        "images_per_s": trained / epoch_s,
        "loader_s": loader_s,
        "loader_share": loader_s / epoch_s,
        "projected_200_epochs_h": 200 * epoch_s / 3600,
        "target_epoch_s": 10.0,
    }
    if device.type == "cuda":
        result["max_memory_allocated_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return result


def report(r: dict) -> str:
    p = r["perf"]
    return (
        f"{'DRY RUN (CPU, tiny model): ' if r['dry_run'] else ''}ResNet18 "
        f"w={r['config']['model']['width']} PGD-{r['config']['attack']['steps']}, batch "
        f"{r['config']['train']['batch_size']}, {r['device']} "
        f"({r['machine']['cuda'] or 'cpu'}); amp {p['amp']}, channels_last "
        f"{p['channels_last']}, compile {p['compile']}\n"
        f"warm-up: {r['warmup_batches']} batches in {r['warmup_s']:.1f} s\n"
        f"epoch: {r['images_trained']} images in {r['epoch_s']:.2f} s = "
        f"{r['images_per_s']:.0f} images/s (target <= {r['target_epoch_s']:.0f} s); "
        f"200 epochs: {r['projected_200_epochs_h']:.2f} h (training only)\n"
        f"loader alone (crop + flip on the device): {r['loader_s']:.3f} s = "
        f"{100 * r['loader_share']:.2f}% of the epoch (target < 2%)"
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny, on the CPU (seconds)")
    ap.add_argument("--images", type=int, default=None, help="dataset size (default 50,000)")
    ap.add_argument("--warmup-batches", type=int, default=None)
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="config override, e.g. perf.compile=off or train.batch_size=512",
    )
    ap.add_argument("--out", default=None, help="write the result as JSON here")
    args = ap.parse_args(argv)
    result = run(args.dry_run, args.images, args.warmup_batches, args.overrides)
    print(report(result))
    if args.out:
        atomic_write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
