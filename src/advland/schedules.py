"""Stateless schedules of fractional epoch t.

Every schedule is a frozen dataclass with `__call__(t: float) -> float`, so the value at
any time is a pure function of that time: resuming a run needs only the epoch counter.

Paper eq. 5 (ε warmup, d = epoch index, D = warmup length):
    ε_cos(d) = ½ (1 − cos(π d / D)) (ε_max − ε_min) + ε_min
    ε_lin(d) = (ε_max − ε_min) d / D + ε_min
clipped to [0, ε_target]. With ε_min ≤ 0 < ε_target < ε_max, ε rises from 0 to ε_target
and stays there. For t > D the formulas are held at their t = D value (ε_max, then clipped),
so the cosine never comes back down.

Periodic adversarial scheduling (PAS) replays a schedule defined over the whole run of
length T inside each period [b_k, b_{k+1}), with time rescaled to the period's length:
t_inner = (t − b_k) · T / (b_{k+1} − b_k). This is what "each period's schedule scaled to its
length" means in the paper (appendix C.1, Fig. 6).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass

Schedule = Callable[[float], float]


@dataclass(frozen=True)
class Constant:
    value: float

    def __call__(self, t: float) -> float:
        return self.value


def _progress(t: float, length: float) -> float:
    """d / D clamped to [0, 1]: warmups hold their end value after t = D."""
    return min(max(t / length, 0.0), 1.0)


@dataclass(frozen=True)
class Linear:
    """Paper eq. 5, ε_lin: from v_min at t=0 to v_max at t=length, held after."""

    v_min: float
    v_max: float
    length: float

    def __call__(self, t: float) -> float:
        return (self.v_max - self.v_min) * _progress(t, self.length) + self.v_min


@dataclass(frozen=True)
class Cosine:
    """Paper eq. 5, ε_cos: ½(1 − cos(π t/D))(v_max − v_min) + v_min, held after t = D."""

    v_min: float
    v_max: float
    length: float

    def __call__(self, t: float) -> float:
        frac = _progress(t, self.length)
        return 0.5 * (1.0 - math.cos(math.pi * frac)) * (self.v_max - self.v_min) + self.v_min


@dataclass(frozen=True)
class Clip:
    inner: Schedule
    lo: float
    hi: float

    def __call__(self, t: float) -> float:
        return min(max(self.inner(t), self.lo), self.hi)


@dataclass(frozen=True)
class MultiStep:
    """base · gamma^(number of milestones ≤ t) — the ResNet18 recipe (÷10 at 100 and 150)."""

    base: float
    milestones: tuple[float, ...]
    gamma: float = 0.1

    def __call__(self, t: float) -> float:
        return self.base * self.gamma ** bisect.bisect_right(sorted(self.milestones), t)


@dataclass(frozen=True)
class Exponential:
    """base until `start`, geometric decay to `final` at `end`, `final` after (VGG recipe)."""

    base: float
    final: float
    start: float
    end: float

    def __call__(self, t: float) -> float:
        if t <= self.start:
            return self.base
        if t >= self.end:
            return self.final
        frac = (t - self.start) / (self.end - self.start)
        return self.base * (self.final / self.base) ** frac


@dataclass(frozen=True)
class Warmup:
    """Linear warmup from 0 over `length` epochs, multiplying `inner` (appendix C.2.3)."""

    inner: Schedule
    length: float

    def __call__(self, t: float) -> float:
        if self.length <= 0 or t >= self.length:
            return self.inner(t)
        return self.inner(t) * max(t, 0.0) / self.length


@dataclass(frozen=True)
class Periodic:
    """Replay `inner` (defined over [0, total)) inside every period of `boundaries`."""

    inner: Schedule
    boundaries: tuple[float, ...]

    def __call__(self, t: float) -> float:
        b = self.boundaries
        k = period_index(b, t)
        return self.inner((t - b[k]) * (b[-1] - b[0]) / (b[k + 1] - b[k]))


def period_index(boundaries: tuple[float, ...], t: float) -> int:
    """Index k of the period [b_k, b_{k+1}) holding t (clamped to the first/last period)."""
    return min(max(bisect.bisect_right(boundaries, t) - 1, 0), len(boundaries) - 2)


def eps_warmup(kind: str, target: float, eps_min: float, eps_max: float, length: float) -> Schedule:
    """The paper's ε schedules: constant, or linear/cosine warmup clipped to [0, target]."""
    if kind == "constant":
        return Constant(target)
    if kind == "linear":
        return Clip(Linear(eps_min, eps_max, length), 0.0, target)
    if kind == "cosine":
        return Clip(Cosine(eps_min, eps_max, length), 0.0, target)
    raise ValueError(f"unknown eps schedule '{kind}'")


def periodic(inner: Schedule, boundaries: tuple[float, ...]) -> Schedule:
    """Wrap in PAS restarts when `boundaries` has at least one interior boundary."""
    return Periodic(inner, tuple(boundaries)) if len(boundaries) > 2 else inner
