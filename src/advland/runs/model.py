"""The network a run trains: its config's model, sized for its data, on a device."""

from __future__ import annotations

import torch
from torch import nn

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
        kwargs=dict(cfg.model.kwargs),
    )
    return model.to(device)
