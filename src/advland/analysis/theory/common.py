"""What the `theory` checks share: the record of one check, its seeded generator, and the
monotonicity test several claims reduce to."""

from __future__ import annotations

import torch

from advland.analysis.theory.config import TheoryConfig
from advland.analysis.theory.result import Check


def check_record(name: str, claim: str, passed: bool, **measured) -> Check:
    """One entry of `theory.json`: the check's name, the paper's claim, the numbers, passed."""
    return Check(name=name, claim=claim, measured=measured, passed=bool(passed))


def check_generator(cfg: TheoryConfig, k: int) -> torch.Generator:
    """Check k's own generator (seed cfg.seed + k): results do not depend on the run order."""
    return torch.Generator().manual_seed(cfg.seed + k)


def as_float(t) -> float:
    return float(t)


def nondecreasing(v: torch.Tensor, dim: int = -1, tol: float = 1e-12) -> bool:
    return bool((v.diff(dim=dim) >= -tol * (1 + v.abs().amax())).all())
