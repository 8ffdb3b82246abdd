"""What a training run writes besides checkpoints: the per-epoch metrics line and its log
line, the summary, and the bookkeeping that keeps them exact across a resume."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from advland.fileio import atomic_write_json, atomic_write_text, read_jsonl
from advland.schedules import period_index
from advland.training.state import Log, RunState, Trainer


def warn_if_environment_changed(run_dir: Path, device, log: Log) -> None:
    """Bit-exact resume needs the same device and thread count (reduction order)."""
    try:
        env = json.loads((run_dir / "env.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    now = {"device": str(device), "threads": torch.get_num_threads()}
    changed = {k: (env.get(k), v) for k, v in now.items() if env.get(k) != v}
    if changed:
        what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
        log(
            f"note: resuming with {what}; results will match an uninterrupted run only approximately"
        )


def epoch_record(
    t: Trainer, st: RunState, epoch: int, *, loss: float, err: float, val: dict, t0: float
) -> dict:
    """The metrics.jsonl line of epoch `epoch` (0-based), finished and counted in `st`;
    `err` in percent, `val` the validation numbers ({} when not due), `t0` its start."""
    seconds = time.perf_counter() - t0
    per_epoch = st.elapsed / max(st.epoch, 1)
    periods = t.cfg.train.periods
    return {
        "epoch": st.epoch,
        "period": period_index(periods, float(epoch)) if periods else 0,
        "lr": t.lr_at(float(epoch)),
        "eps": t.eps_at(float(epoch)),
        "train_loss": loss,
        "train_error": err,
        **val,
        "images_per_s": t.batches * t.loader.batch_size / seconds if seconds > 0 else 0.0,
        "epoch_s": seconds,
        "elapsed_s": st.elapsed,
        "eta_s": per_epoch * (t.cfg.train.epochs - st.epoch),
    }


def log_line(r: dict, epochs: int) -> str:
    val = ""
    if "val_clean_error" in r:
        val = f" | val clean {r['val_clean_error']:5.2f}% robust {r['val_robust_error']:5.2f}%"
    return (
        f"epoch {r['epoch']:>3}/{epochs} | lr {r['lr']:.2e} eps {r['eps']:.4f} | "
        f"train loss {r['train_loss']:.4f} err {r['train_error']:5.2f}%{val} | "
        f"{r['images_per_s']:.0f} img/s | elapsed {r['elapsed_s']:.0f}s ETA {r['eta_s']:.0f}s"
    )


def truncate_logs(run_dir: Path, epoch: int) -> None:
    """Drop log lines past the checkpoint so a resumed run logs every epoch exactly once."""
    for name in ("metrics.jsonl", "dynamics.jsonl"):
        path = run_dir / name
        if path.exists():
            keep = [r for r in read_jsonl(path) if r["epoch"] <= epoch]
            atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def checkpoint_extra(st: RunState) -> dict:
    return {"best_val": st.best_val, "best_epoch": st.best_epoch, "elapsed": st.elapsed}


def state_info(st: RunState) -> dict:
    return {
        "epochs_completed": st.epoch,
        "best_epoch": st.best_epoch,
        "best_val_robust_error": st.best_val if math.isfinite(st.best_val) else None,
        "train_seconds": st.elapsed,
    }


def write_summary(run_dir: Path, summary: dict) -> dict:
    atomic_write_json(run_dir / "summary.json", summary)
    return summary
