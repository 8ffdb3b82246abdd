"""Build the pieces of a run from its config: model, optimizer, ε and lr schedules, and the
speed switches (`perf`) resolved for the device."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from advland import schedules as S
from advland.config import RunConfig


def build_optimizer(model: nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    o = cfg.optim
    params = [p for p in model.parameters() if p.requires_grad]
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(
        params,
        lr=o.lr,
        momentum=o.momentum,
        nesterov=o.nesterov and o.momentum > 0,
        weight_decay=o.weight_decay,
    )


def eps_schedule(cfg: RunConfig) -> S.Schedule:
    """ε(t): paper eq. 5 with D = warmup (0 → whole run), replayed per period under PAS."""
    s, t = cfg.eps_schedule, cfg.train
    length = s.warmup if s.warmup > 0 else float(t.epochs)
    inner = S.eps_warmup(s.kind, cfg.attack.eps, s.eps_min, s.eps_max, length)
    return S.periodic(inner, t.periods)


def lr_schedule(cfg: RunConfig) -> S.Schedule:
    """lr(t) over the whole run, optionally warmed up, replayed per period under PAS."""
    lr, base = cfg.lr_schedule, cfg.optim.lr
    inner: S.Schedule
    if lr.kind == "constant":
        inner = S.Constant(base)
    elif lr.kind == "multistep":
        inner = S.MultiStep(base, tuple(lr.milestones), lr.gamma)
    else:
        inner = S.Exponential(base, lr.final_lr, lr.start, lr.end)
    if lr.warmup > 0:
        inner = S.Warmup(inner, lr.warmup)
    return S.periodic(inner, cfg.train.periods)


def snapshot_epochs(cfg: RunConfig) -> list[int]:
    """Completed-epoch counts at which a PAS period ends (a snapshot is saved)."""
    return [int(b) for b in cfg.train.periods[1:]]


@dataclass(frozen=True)
class Perf:
    """`cfg.perf` resolved for one device ("auto": channels_last on everywhere, bf16 autocast
    and torch.compile with CUDA only)."""

    amp: torch.dtype | None = None  # autocast dtype for the training attack and update
    channels_last: bool = False
    compile: bool = False  # torch.compile the model; the loader then drops the last batch

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.amp)

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """x in the memory format the model expects (a no-op unless channels_last)."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


CPU_PERF = Perf()  # every speed switch off


def resolve_perf(cfg: RunConfig, device: torch.device) -> Perf:
    p, cuda = cfg.perf, torch.device(device).type == "cuda"

    def on(value: str) -> bool:
        return value == "on" or (value == "auto" and cuda)

    amp = torch.bfloat16 if p.amp == "bf16" or (p.amp == "auto" and cuda) else None
    # channels_last is on everywhere by default: it speeds up PGD training steps on a CPU
    # too (docs/benchmarks.md); bf16 and torch.compile are on by default with CUDA only.
    channels_last = p.channels_last != "off"
    return Perf(amp=amp, channels_last=channels_last, compile=on(p.compile))
