"""Build the pieces of a run from its config: model, optimizer, ε and lr schedules."""

from __future__ import annotations

import torch
from torch import nn

from advland import schedules as S
from advland.config import RunConfig
from advland.data import Splits
from advland.models import build_model


def build_run_model(cfg: RunConfig, splits: Splits, device: torch.device) -> nn.Module:
    c, h, _ = splits.shape
    model = build_model(
        cfg.model.name,
        width=cfg.model.width,
        num_classes=splits.num_classes,
        in_channels=c,
        image_size=h,
    )
    return model.to(device)


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
