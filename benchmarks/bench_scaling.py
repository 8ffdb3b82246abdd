"""Scaling of adversarial training: time and memory vs dataset size and width, loader share.

    python -m benchmarks.bench_scaling [--quick] [--out FILE]
    python -m benchmarks.bench_scaling --stream 2048 [--workers W]   # streaming path only

Runs the real `train_one_epoch` (the quickstart recipe: PGD-10 at ε = 0.3, batch 128,
Adam) on the CPU and reports

- dataset size: seconds per epoch and per 1,000 images for growing training sets (LeNet
  w=1 --quick, w=4 full). Up to 4,000 images these are the embedded mnist-5k training
  digits; larger sets repeat those digits (cost does not depend on pixel values), since
  nothing is downloaded. Linear cost = a flat seconds-per-1k column;
- width: seconds per epoch and peak memory for LeNet w = 1, 2, 4, 8, 16 on a fixed set;
- leaks: resident memory (RSS, from /proc) after each of several epochs in a row; flat
  after the first epoch = no leak;
- the data loader's share of the epoch: the same `DeviceLoader` iterated alone (all
  batches materialised, float conversion included) over the epoch time (target < 2%);
  also for the CIFAR recipe (`configs/cifar10-resnet18-constant.yaml`: pad-4 crop + flip
  on the device, PGD-10, batch 128) on synthetic CIFAR-shaped images with the smallest
  ResNet18 (w=1: the cheaper the step, the larger the loader's share).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from dataclasses import replace

import torch

from advland.config import build_config
from advland.data import DeviceLoader, load_splits
from advland.data.splits import Split, Splits
from advland.data.stream import SplitDataset, StreamLoader, default_workers
from advland.runs.checkpoint import Generators
from advland.runs.model import build_run_model
from advland.training.dynamics import DynamicsRecorder
from advland.training.loop import train_one_epoch
from advland.training.setup import build_optimizer, eps_schedule, lr_schedule
from advland.training.state import Trainer
from benchmarks.common import emit, machine, table
from benchmarks.gpu_epoch import RECIPE as CIFAR_RECIPE
from benchmarks.gpu_epoch import loader_epoch, synthetic_cifar

SETTINGS = {
    "quick": dict(
        sizes=(1000, 2000, 4000),
        size_width=1,
        widths=(1, 2, 4, 8, 16),
        width_images=512,
        leak_epochs=5,
        leak_images=1000,
        cifar_images=512,
    ),
    "full": dict(
        sizes=(1000, 2000, 4000, 8000, 16000, 30000, 60000),
        size_width=4,
        widths=(1, 2, 4, 8, 16),
        width_images=2000,
        leak_epochs=8,
        leak_images=4000,
        cifar_images=2048,
    ),
}


def rss_mb() -> float:
    """Resident memory of this process now (MB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """High-water mark of resident memory of this process (MB; ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def images(base: Split, n: int) -> Split:
    """The first n digits of `base`, repeated as often as needed."""
    reps = -(-n // len(base))
    return Split(base.x.repeat(reps, 1, 1, 1)[:n], base.y.repeat(reps)[:n], torch.arange(n))


class Bench:
    """One model + optimizer + loader on a training set; `epoch()` runs the real loop."""

    def __init__(self, cfg, splits, train: Split) -> None:
        torch.manual_seed(0)
        gens = Generators.seeded(0)
        self.model = build_run_model(cfg, splits, torch.device("cpu"))
        loader = DeviceLoader(
            train,
            cfg.train.batch_size,
            device=torch.device("cpu"),
            shuffle=True,
            generator=gens.data,
            augment=splits.augment,
        )
        self.trainer = Trainer(
            cfg=cfg,
            net=self.model,
            opt=build_optimizer(self.model, cfg),
            loader=loader,
            batches=len(loader),
            eps_at=eps_schedule(cfg),
            lr_at=lr_schedule(cfg),
            gens=gens,
            recorder=DynamicsRecorder(self.model, [], "off", 0, len(loader)),
        )
        self.epochs = 0

    def epoch(self) -> float:
        start = time.perf_counter()
        train_one_epoch(self.trainer, self.epochs)
        self.epochs += 1
        return time.perf_counter() - start

    def loader_seconds(self) -> float:
        """One epoch of the loader alone (its own generator: training's state is untouched)."""
        return loader_epoch(self.trainer.loader, torch.device("cpu"))


def _cifar_epoch(n: int):
    """The CIFAR recipe (ResNet18 w=1, crop + flip) on n synthetic images: its config, the
    images, the bench, and the faster of two PGD-10 training epochs in seconds."""
    cfg = build_config(CIFAR_RECIPE, ["model.width=1", "data.val_size=0", "train.val_every=0"])
    train = synthetic_cifar(n)
    splits = Splits(
        "synthetic-cifar", 10, (3, 32, 32), train, train, train, "synthetic", "crop-flip"
    )
    t = Bench(cfg, splits, train)
    return cfg, train, t, min(t.epoch(), t.epoch())


def cifar_share(n: int) -> dict:
    """The CIFAR recipe's loader (crop + flip on the device) against its training epoch:
    ResNet18 w=1 on n synthetic CIFAR-shaped images, the faster of two epochs."""
    _, _, t, epoch_s = _cifar_epoch(n)
    loader_s = t.loader_seconds()
    return {
        "images": n,
        "model": "resnet18 w=1",
        "augment": "crop-flip",
        "epoch_s": epoch_s,
        "loader_s": loader_s,
        "loader_share": loader_s / epoch_s,
    }


def stream_share(n: int, workers: int | None = None) -> dict:
    """The streaming path (`data.stream.StreamLoader`: a torch DataLoader with worker
    processes over the images in host memory, crop + flip on the device) against the same
    PGD-10 epoch as `cifar_share`: one epoch of the loader alone, all batches materialised.
    Alone is the upper bound of its share (in training the workers overlap the steps)."""
    cfg, train, _, epoch_s = _cifar_epoch(n)
    n_workers = default_workers() if workers is None else workers
    loader = StreamLoader(
        SplitDataset(train),
        cfg.train.batch_size,
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(1),
        workers=n_workers,
        augment="crop-flip",
    )
    loader_s = min(_iterate(loader), _iterate(loader))
    return {
        "images": n,
        "model": "resnet18 w=1",
        "workers": n_workers,
        "epoch_s": epoch_s,
        "stream_s": loader_s,
        "stream_share": loader_s / epoch_s,
    }


def _iterate(loader) -> float:
    start = time.perf_counter()
    for x, _ in loader:
        x.sum()  # touch the batch: nothing is left lazily undone
    return time.perf_counter() - start


def run(quick: bool = False) -> dict:
    s = SETTINGS["quick" if quick else "full"]
    base_cfg = build_config("configs/quickstart.yaml", ["data.val_size=0", "train.val_every=0"])
    splits = load_splits(base_cfg.data)  # mnist-5k: 4,000 training digits
    sizes = []
    for n in s["sizes"]:
        cfg = replace(base_cfg, model=replace(base_cfg.model, width=s["size_width"]))
        t = Bench(cfg, splits, images(splits.train, n))
        # the faster of two epochs: a trainer's first epoch also pays one-off warm-up
        # (kernel selection, allocator growth), which would inflate the smallest set most
        epoch_s = min(t.epoch(), t.epoch())
        loader_s = t.loader_seconds()
        sizes.append(
            {
                "images": n,
                "source": "mnist-5k" if n <= len(splits.train) else "mnist-5k digits repeated",
                "epoch_s": epoch_s,
                "s_per_1k": 1000 * epoch_s / n,
                "loader_s": loader_s,
                "loader_share": loader_s / epoch_s,
                "rss_mb": rss_mb(),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    widths = []
    for w in s["widths"]:
        cfg = replace(base_cfg, model=replace(base_cfg.model, width=w))
        t = Bench(cfg, splits, images(splits.train, s["width_images"]))
        before = rss_mb()
        epoch_s = t.epoch()
        widths.append(
            {
                "width": w,
                "params": sum(p.numel() for p in t.model.parameters()),
                "images": s["width_images"],
                "epoch_s": epoch_s,
                "rss_mb": rss_mb(),
                "rss_growth_mb": rss_mb() - before,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
        del t
    cifar = cifar_share(s["cifar_images"])
    cfg = replace(base_cfg, model=replace(base_cfg.model, width=s["size_width"]))
    t = Bench(cfg, splits, images(splits.train, s["leak_images"]))
    leak = [
        {"epoch": i + 1, "epoch_s": t.epoch(), "rss_mb": rss_mb()} for i in range(s["leak_epochs"])
    ]
    after_first = [r["rss_mb"] for r in leak[1:]]
    per_1k = [r["s_per_1k"] for r in sizes]
    return {
        "benchmark": "scaling",
        "quick": quick,
        "settings": s,
        "machine": machine(),
        "recipe": "configs/quickstart.yaml (PGD-10, eps 0.3, batch 128, Adam), CPU",
        "sizes": sizes,
        "widths": widths,
        "leak": leak,
        "cifar_crop_flip": cifar,
        "summary": {
            "s_per_1k_max_over_min": max(per_1k) / min(per_1k),
            "loader_share_max": max(r["loader_share"] for r in [*sizes, cifar]),
            "rss_growth_after_first_epoch_mb": max(after_first) - min(after_first),
        },
    }


def report(result: dict) -> str:
    s, summ = result["settings"], result["summary"]
    threads = result["machine"]["threads"]
    out = [f"{result['recipe']}, {threads} thread(s); sizes: faster of 2 epochs; widths: 1 epoch"]
    out.append(f"\ndataset size (LeNet w={s['size_width']}):")
    rows = [
        [
            r["images"],
            r["epoch_s"],
            r["s_per_1k"],
            100 * r["loader_share"],
            r["rss_mb"],
            r["source"],
        ]
        for r in result["sizes"]
    ]
    heads = ["images", "epoch s", "s per 1k", "loader %", "RSS MB", "data"]
    out.append(table(heads, rows, ".3g"))
    out.append(f"\nwidth ({s['width_images']} images):")
    rows = [
        [r["width"], r["params"], r["epoch_s"], r["rss_growth_mb"], r["peak_rss_mb"]]
        for r in result["widths"]
    ]
    out.append(table(["width", "params", "epoch s", "RSS growth MB", "peak RSS MB"], rows, ".3g"))
    c = result["cifar_crop_flip"]
    out.append(
        f"\nCIFAR recipe, crop+flip on the device ({c['images']} synthetic images, "
        f"{c['model']}): epoch {c['epoch_s']:.2f} s, loader alone {c['loader_s']:.4f} s "
        f"= {100 * c['loader_share']:.2f}%"
    )
    out.append(f"\nrepeated epochs ({s['leak_images']} images, LeNet w={s['size_width']}):")
    rows = [[r["epoch"], r["epoch_s"], r["rss_mb"]] for r in result["leak"]]
    out.append(table(["epoch", "epoch s", "RSS MB"], rows, ".4g"))
    out.append(
        f"  time per image, largest/smallest set: {summ['s_per_1k_max_over_min']:.2f}x "
        f"(1.00 = linear); loader share of the epoch: <= {100 * summ['loader_share_max']:.2f}% "
        f"(target < 2%); RSS change after the first epoch: "
        f"{summ['rss_growth_after_first_epoch_mb']:.1f} MB"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1k-4k images, LeNet w=1 (~1 min)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument(
        "--stream",
        type=int,
        default=0,
        metavar="N",
        help="only the streaming path's share of a PGD-10 epoch on N CIFAR-shaped images",
    )
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers (--stream)")
    args = ap.parse_args(argv)
    if args.stream:
        r = stream_share(args.stream, args.workers)
        r |= {"benchmark": "stream", "machine": machine()}
        line = (
            f"streaming DataLoader ({r['workers']} workers, crop+flip), {r['images']} "
            f"CIFAR-shaped images, {r['model']}: PGD-10 epoch {r['epoch_s']:.2f} s, loader "
            f"alone {r['stream_s']:.3f} s = {100 * r['stream_share']:.2f}% (target < 5%)"
        )
        emit(r, lambda _: line, args.out)
        return r
    result = run(args.quick)
    emit(result, report, args.out)
    return result


if __name__ == "__main__":
    main()
