"""Aggregating a sweep: group runs by tags, mean ± standard deviation over seeds."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

from advland.experiments.recipe import RunResult, claim


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value); NaN if empty."""
    vals = [float(v) for v in values]
    if not vals:
        return math.nan, math.nan
    m = sum(vals) / len(vals)
    if len(vals) == 1:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))


def fmt_mean_std(values: Sequence[float]) -> str:
    """ "m ± s" over seeds; a single seed has no spread to show, so just its value."""
    if not values:
        return "-"
    m, s = mean_std(values)
    return f"{m:.2f}" if len(values) == 1 else f"{m:.2f} ± {s:.2f}"


def group(runs: Iterable[RunResult], *keys: str) -> dict[tuple, list[RunResult]]:
    """Runs grouped by the values of `keys` in their tags, in first-seen order."""
    out: dict[tuple, list[RunResult]] = {}
    for r in runs:
        out.setdefault(tuple(r.tag.get(k) for k in keys), []).append(r)
    return out


def errors(runs: Iterable[RunResult], field: str = "robust_error") -> list[float]:
    """`field` (a test error in %) of the completed runs; a diverged run counts as 90%.

    A diverged run is a failed training (the paper's Fig. 4 shows such learning rates at
    chance-level error), so it enters the mean as chance for 10 classes instead of vanishing.
    """
    out = []
    for r in runs:
        if r.status == "diverged":
            out.append(90.0)
        elif r.status in ("completed", "sanity-failed") and r.summary.get(field) is not None:
            out.append(float(r.summary[field]))
    return out


def ensemble_errors(runs: Iterable[RunResult], field: str) -> list[float]:
    """`field` of the PAS snapshot ensemble of each completed run that has one."""
    return [
        float(r.summary["ensemble"][field])
        for r in runs
        if r.status == "completed" and "ensemble" in r.summary
    ]


def status_counts(runs: Sequence[RunResult]) -> dict[str, int]:
    counts = {"total": len(runs), "completed": 0, "diverged": 0, "failed": 0}
    for r in runs:
        key = r.status if r.status in ("completed", "diverged") else "failed"
        counts[key] += 1
    return counts


def ordered(values: Sequence[float], increasing: bool) -> bool:
    """The last value beats the first in the claimed direction, and a strict majority of
    the consecutive steps agree (with three budgets: both steps).

    Used for "grows with ε" claims on a handful of budgets: with four or more, one noisy
    middle point does not flip a clear end-to-end trend; a trend that half the steps
    contradict is not claimed.
    """
    v = [float(x) for x in values]
    if len(v) < 2 or any(math.isnan(x) for x in v):
        return False
    sign = 1 if increasing else -1
    steps = [sign * (b - a) > 0 for a, b in itertools.pairwise(v)]
    return sign * (v[-1] - v[0]) > 0 and sum(steps) * 2 > len(steps)


def fmt_series(keys: Sequence[float], values: Sequence[float], fmt: str = ".3g") -> str:
    return ", ".join(f"ε={k:g}: {v:{fmt}}" for k, v in zip(keys, values, strict=True))


def trend_claim(
    text: str, what: str, eps: Sequence[float], values: Sequence[float], increasing: bool
) -> dict:
    """The verdict on "`values` move with ε in the claimed direction" (`ordered`), with the
    series as evidence: "WHAT: ε=0: …, ε=0.1: …"."""
    return claim(
        text, ordered(values, increasing=increasing), f"{what}: " + fmt_series(eps, values)
    )
