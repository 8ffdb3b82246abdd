"""Seeded stratified subsets: every class keeps its share of the data.

Class quotas use the largest-remainder method (exact integer arithmetic), ties going to
the smaller class label, so the sizes are deterministic and sum exactly to n. The only
randomness is one `torch.randperm` per class, drawn from the given CPU generator in
ascending class order. Returned indices are sorted (source order), which keeps the
provenance of every example easy to read.
"""

from __future__ import annotations

import torch

from advland.errors import UserError


def class_quotas(counts: torch.Tensor, n: int) -> torch.Tensor:
    """Split n over classes proportionally to `counts` (largest remainder)."""
    total = int(counts.sum())
    scaled = counts.to(torch.int64) * n
    quotas = scaled // total
    remainders = scaled % total
    short = n - int(quotas.sum())
    # Stable sort on -remainder: equal remainders go to the lower class label first.
    order = torch.sort(-remainders, stable=True).indices
    quotas[order[:short]] += 1
    return quotas


def stratified_sample(y: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Sorted positions of a stratified random subset of size n of labels `y`."""
    if not 0 <= n <= len(y):
        raise UserError(f"cannot take {n} examples from a split of {len(y)}; use 0..{len(y)}")
    if n == 0:
        return torch.zeros(0, dtype=torch.int64)
    classes, counts = torch.unique(y, return_counts=True)
    quotas = class_quotas(counts, n)
    picked = []
    for label, quota in zip(classes.tolist(), quotas.tolist(), strict=True):
        members = torch.nonzero(y == label).flatten()
        order = torch.randperm(len(members), generator=generator)
        picked.append(members[order[:quota]])
    return torch.sort(torch.cat(picked)).values


def stratified_holdout(
    y: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept positions, held-out positions) with a stratified hold-out of size n."""
    held = stratified_sample(y, n, generator)
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[held] = False
    return torch.nonzero(mask).flatten(), held
