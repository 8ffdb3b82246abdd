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


def check_logits_shape(model: nn.Module, splits: Splits) -> None:
    """The model maps a [2, C, H, W] batch to [2, classes >= the data's classes]: checked on
    the meta device (shapes only, no computation); a model whose ops have no meta kernel
    is checked at its first real batch instead."""
    from advland.errors import UserError

    x = torch.empty(2, *splits.shape, device="meta")
    try:
        with torch.no_grad():
            out = model.eval()(x)
    except (NotImplementedError, RuntimeError):
        return
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(
            f"model '{_name(model)}' returns {shape} for a batch of 2 images; it must return "
            "logits of shape [N, classes]"
        )
    if out.shape[1] < splits.num_classes:
        raise UserError(
            f"model '{_name(model)}' returns {out.shape[1]} classes but the data has "
            f"{splits.num_classes}; give it num_classes outputs"
        )


def _name(model: nn.Module) -> str:
    return type(model).__name__
