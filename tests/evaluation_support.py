"""A small LeNet adversarially trained on mnist-5k in a few seconds, for the attack tests."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from advland.attacks import Threat, pgd
from advland.data.mnist5k import locate_csv, read_csv, split_indices
from advland.models import build_model


@functools.cache
def mnist5k() -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_test, y_test), floats in [0,1]."""
    x, y = read_csv(locate_csv())
    train, test = split_indices(y)
    xf, yt = torch.from_numpy(x).float() / 255, torch.from_numpy(y)
    return xf[train], yt[train], xf[test], yt[test]


@functools.cache
def trained_lenet() -> torch.nn.Module:
    """LeNet w=1: one clean epoch, one PGD-5 epoch at ε=0.1 (seeded; ≈5 s on one core)."""
    xtr, ytr, _, _ = mnist5k()
    torch.manual_seed(0)
    model = build_model("lenet", width=1, image_size=28)
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    gen = torch.Generator().manual_seed(0)
    for epoch in range(2):
        perm = torch.randperm(len(ytr), generator=gen)
        for i in range(0, len(ytr), 100):
            j = perm[i : i + 100]
            xb = xtr[j]
            if epoch:
                xb = pgd(model, xb, ytr[j], Threat("linf", 0.1), steps=5, step_size=0.05,
                         generator=gen)  # fmt: skip
            model.train()
            opt.zero_grad()
            F.cross_entropy(model(xb), ytr[j]).backward()
            opt.step()
    return model.eval()
