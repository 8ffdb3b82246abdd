"""Aggregating a sweep (group runs by tags, mean ± standard deviation over seeds) and the
one verdict rule family every item uses (`directional`, `trend`, `flat`; see below)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from advland.experiments.recipe import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    RunResult,
    claim,
    earlier_verdict,
)


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
    """ "m ± s (n=N)" over seeds; a single seed has no spread to show: "m (n=1)"."""
    if not values:
        return "-"
    m, s = mean_std(values)
    n = f"(n={len(values)})"
    return f"{m:.2f} {n}" if len(values) == 1 else f"{m:.2f} ± {s:.2f} {n}"


def group(runs: Iterable[RunResult], *keys: str) -> dict[tuple, list[RunResult]]:
    """Runs grouped by the values of `keys` in their tags, in first-seen order."""
    out: dict[tuple, list[RunResult]] = {}
    for r in runs:
        out.setdefault(tuple(r.tag.get(k) for k in keys), []).append(r)
    return out


CHANCE_ERROR = 90.0  # % test error of a model that failed to train, on 10 classes


def errors(runs: Iterable[RunResult], field: str = "robust_error") -> list[float]:
    """`field` (a test error in %) of each run, by the one rule every arm of a comparison
    uses (`arm`): a diverged run counts as chance (90%), a sanity-failed run with its
    measured value; runs not finished are left out."""
    return arm(runs, field).values


def ensemble_errors(runs: Iterable[RunResult], field: str) -> list[float]:
    """`field` of the PAS snapshot ensemble of each run, by the same rule as `errors`: a
    diverged PAS run counts as chance (90%) instead of being dropped."""
    return arm(runs, field, ensemble=True).values


@dataclass(frozen=True)
class Arm:
    """One arm of a comparison: its values, and how many runs entered each way."""

    values: list[float]
    diverged: int = 0  # counted as CHANCE_ERROR
    sanity_failed: int = 0  # counted with their measured value
    missing: int = 0  # not finished (not run, crashed): left out

    @property
    def n(self) -> int:
        return len(self.values)

    def exceptions(self) -> list[str]:
        """The runs that entered other than as a plain measured value, when there are any."""
        extra = []
        if self.diverged:
            extra.append(f"{self.diverged} diverged → {CHANCE_ERROR:g}%")
        if self.sanity_failed:
            extra.append(f"{self.sanity_failed} sanity-failed, counted as measured")
        if self.missing:
            extra.append(f"{self.missing} missing")
        return extra

    def counts(self) -> str:
        """E.g. "n=3 (1 diverged → 90%)"; the exceptions are named only when present."""
        extra = self.exceptions()
        return f"n={self.n}" + (f" ({', '.join(extra)})" if extra else "")

    def text(self) -> str:
        """E.g. "86.00 ± 3.61 (n=3)" or "86.00 ± 3.61 (n=3; 1 diverged → 90%)": mean ± std
        with n once, and the exceptions when present."""
        extra = "; ".join(self.exceptions())
        shown = fmt_mean_std(self.values) if self.values else "- (n=0)"
        return f"{shown[:-1]}; {extra})" if extra else shown


def arm(runs: Iterable[RunResult], field: str = "robust_error", ensemble: bool = False) -> Arm:
    """The values of `field` over `runs` (of the PAS ensemble when `ensemble`), every arm by
    one rule: a diverged run is a failed training (the paper's Fig. 4 shows such learning
    rates at chance-level error), so it enters as 90% instead of vanishing; a sanity-failed
    run enters with its measured value; an unfinished run is left out and counted."""
    values: list[float] = []
    diverged = sanity = missing = 0
    for r in runs:
        src = r.summary.get("ensemble", {}) if ensemble else r.summary
        if r.status == "diverged":
            values.append(CHANCE_ERROR)
            diverged += 1
        elif r.status in ("completed", "sanity-failed") and src.get(field) is not None:
            values.append(float(src[field]))
            sanity += r.status == "sanity-failed"
        else:
            missing += 1
    return Arm(values, diverged, sanity, missing)


def status_counts(runs: Sequence[RunResult]) -> dict[str, int]:
    """Runs by outcome; a sanity-failed run trained to the end (its end-of-run evaluation
    failed a check) and is counted apart from runs that failed or never ran."""
    counts = {"total": len(runs), "completed": 0, "diverged": 0, "sanity-failed": 0, "failed": 0}
    for r in runs:
        key = r.status if r.status in ("completed", "diverged", "sanity-failed") else "failed"
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
    text: str, what: str, eps: Sequence[float], series: Sequence[Sequence[float]], increasing: bool
) -> dict:
    """The verdict on "`series` (per-seed values at each ε, seed-aligned) move with ε in the
    claimed direction" by the trend rule (paired by seed), with the earlier rule-1 verdict
    (`ordered` on the means) beside it and the series with n as evidence."""
    t = trend(series, increasing, paired=_aligned(series))
    means = [mean_std(v)[0] if v else math.nan for v in series]
    v1 = NOT_RUN if t.verdict == NOT_RUN else _v1(ordered(means, increasing))
    direction = "grows" if increasing else "falls"
    return claim(
        text,
        t.verdict,
        f"{what}: {fmt_trend(eps, series)}; {trend_rule_text(t)}",
        family="trend",
        rule=f"trend ({direction} with ε): {FAMILIES['trend']}",
        earlier=(earlier_verdict(1, v1),),
    )


def _v1(ok: bool) -> str:
    return REPRODUCED if ok else NOT_REPRODUCED


def _aligned(series: Sequence[Sequence[float]]) -> bool:
    """Paired when every budget has the same number of values (one per seed)."""
    return len({len(v) for v in series}) == 1


# ------------------------------------------------------------------ the verdict rule family
#
# Every item decides its claims with these rules (docs/reproduce.md, "Verdicts"):
# - directional ("A beats B"): reproduced when the difference of means exceeds twice its
#   standard error (Welch: sqrt(s1²/n1 + s2²/n2); paired designs: the SE of the per-seed
#   differences) or when the claim holds in every seed pair; not reproduced when the same
#   test passes in the opposite direction; otherwise inconclusive. Fewer than two values in
#   an arm leave no spread to judge: inconclusive.
# - trend ("grows with ε"): each consecutive step and the first-to-last change are
#   directional tests; reproduced when the end-to-end change and a strict majority of the
#   steps are reproduced and no step is reversed; not reproduced when the end-to-end change
#   or any step is reversed; otherwise inconclusive.
# - flat ("stays flat"): |mean change| + 2·SE ≤ tol, or every seed within ±tol: reproduced;
#   |mean change| − 2·SE > tol, or every seed beyond tol on one side: not reproduced;
#   otherwise inconclusive. The tolerance is stated beside the verdict.
# - check: a closed-form check with its own tolerance (theory items; no seeds).

FAMILIES = {
    "directional": "Δ of means (> 0 in the claimed direction) > 2·SE (Welch, or paired) or holds in every seed pair",
    "trend": "every step Δ > 2·SE across budgets (majority; none reversed)",
    "flat": "|mean change| + 2·SE ≤ tol (tol stated)",
    "check": "closed form within its stated tolerance",
}


@dataclass(frozen=True)
class Test:
    """One directional (or flat) test: `diff` > 0 is the claimed direction."""

    verdict: str
    diff: float
    se: float
    n: tuple[int, int]
    every: bool  # the claim holds in every seed pair (flat: every seed within tolerance)
    paired: bool
    against: bool = False  # every seed pair points the other way (a reversal by that route)

    @property
    def means_verdict(self) -> str:
        """Rule 1: the means alone decide."""
        if self.verdict == NOT_RUN:
            return NOT_RUN
        return REPRODUCED if self.diff > 0 else NOT_REPRODUCED

    def text(self) -> str:
        if self.verdict == NOT_RUN:
            return "no data"
        kind = "paired" if self.paired else "Welch"
        n = f"n={self.n[0]}" if self.paired else f"n={self.n[0]}/{self.n[1]}"
        if min(self.n) < 2:
            return f"Δ={self.diff:+.3g} ({kind}, {n}: no spread to judge)"
        every = ", every seed pair agrees" if self.every else ""
        every += ", every seed pair reversed" if self.against else ""
        return f"Δ={self.diff:+.3g}, 2·SE={2 * self.se:.3g} ({kind}, {n}{every})"


def flat_text(t: Test, tol: float) -> str:
    """The evidence of a `flat` test: |mean| + 2·SE against the tolerance, and n."""
    if t.verdict == NOT_RUN:
        return "no data"
    every = ", every seed within ±tol" if t.every else ""
    return f"|mean|+2·SE={abs(t.diff) + 2 * t.se:.3g} vs tol {tol:g} (n={t.n[0]}{every})"


def _decide(diff: float, se: float, every: bool, reversed_: bool, n: int) -> str:
    if n < 2:
        return INCONCLUSIVE
    if every or diff > 2 * se:
        return REPRODUCED
    if reversed_ or -diff > 2 * se:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def directional(low: Sequence[float], high: Sequence[float], paired: bool = False) -> Test:
    """The claim "the values `high` exceed the values `low`", by the rule above. `paired`:
    `low[i]` and `high[i]` come from the same seed (needs equal lengths)."""
    lo, hi = [float(x) for x in low], [float(x) for x in high]
    if not lo or not hi or any(math.isnan(x) for x in lo + hi):
        return Test(NOT_RUN, math.nan, math.nan, (len(lo), len(hi)), False, paired)
    if paired:
        if len(lo) != len(hi):
            raise ValueError(f"a paired test needs equal lengths, got {len(lo)} and {len(hi)}")
        d = [b - a for a, b in zip(lo, hi, strict=True)]
        m, s = mean_std(d)
        se = s / math.sqrt(len(d))
        every, rev = all(x > 0 for x in d), all(x < 0 for x in d)
    else:
        (ml, sl), (mh, sh) = mean_std(lo), mean_std(hi)
        m, se = mh - ml, math.sqrt(sl**2 / len(lo) + sh**2 / len(hi))
        every, rev = min(hi) > max(lo), max(hi) < min(lo)
    n = min(len(lo), len(hi))
    verdict = _decide(m, se, every, rev, n)
    return Test(verdict, m, se, (len(lo), len(hi)), every, paired, rev and n >= 2)


def combine(verdicts: Iterable[str]) -> str:
    """A claim made of parts ("cosine AND linear beat constant"): reproduced when every part
    is, not reproduced when any part is reversed, not run when a part has no data."""
    v = list(verdicts)
    if not v or NOT_RUN in v:
        return NOT_RUN
    if NOT_REPRODUCED in v:
        return NOT_REPRODUCED
    return REPRODUCED if all(x == REPRODUCED for x in v) else INCONCLUSIVE


@dataclass(frozen=True)
class Trend:
    verdict: str
    steps: list[Test]
    end: Test


def trend(series: Sequence[Sequence[float]], increasing: bool, paired: bool = True) -> Trend:
    """ "The value moves with the budget in the claimed direction": `series[i]` holds the
    per-seed values at the i-th budget (sorted), by the trend rule above."""

    def test(a: Sequence[float], b: Sequence[float]) -> Test:
        return directional(a, b, paired) if increasing else directional(b, a, paired)

    if len(series) < 2:
        return Trend(NOT_RUN, [], directional([], [], paired))
    steps = [test(a, b) for a, b in itertools.pairwise(series)]
    end = test(series[0], series[-1])
    verdicts = [s.verdict for s in steps]
    if NOT_RUN in verdicts or end.verdict == NOT_RUN:
        verdict = NOT_RUN
    elif end.verdict == NOT_REPRODUCED or NOT_REPRODUCED in verdicts:
        verdict = NOT_REPRODUCED
    elif end.verdict == REPRODUCED and 2 * verdicts.count(REPRODUCED) > len(verdicts):
        verdict = REPRODUCED
    else:
        verdict = INCONCLUSIVE
    return Trend(verdict, steps, end)


def flat(changes: Sequence[float], tol: float) -> Test:
    """ "The value stays flat": each seed's change within ±`tol`, by the flat rule above.
    `diff` is the mean change, `se` its standard error."""
    c = [float(x) for x in changes]
    if not c or any(math.isnan(x) for x in c):
        return Test(NOT_RUN, math.nan, math.nan, (len(c), len(c)), False, True)
    m, s = mean_std(c)
    se = s / math.sqrt(len(c))
    inside = all(abs(x) <= tol for x in c)
    outside = all(x > tol for x in c) or all(x < -tol for x in c)
    if len(c) < 2:
        verdict = INCONCLUSIVE
    elif abs(m) + 2 * se <= tol or inside:
        verdict = REPRODUCED
    elif abs(m) - 2 * se > tol or outside:
        verdict = NOT_REPRODUCED
    else:
        verdict = INCONCLUSIVE
    return Test(verdict, m, se, (len(c), len(c)), inside, True)


def fmt_values(values: Sequence[float], fmt: str = ".3g") -> str:
    """ "m ± s" over seeds with the format `fmt`; one value as itself; "-" when empty."""
    if not values:
        return "-"
    m, s = mean_std(values)
    return f"{m:{fmt}}" if len(values) == 1 else f"{m:{fmt}} ± {s:{fmt}}"


def fmt_trend(keys: Sequence[float], series: Sequence[Sequence[float]], fmt: str = ".3g") -> str:
    """ "ε=0: m ± s, ε=0.1: m ± s (n=3 per ε)"."""
    n = sorted({len(v) for v in series})
    body = ", ".join(f"ε={k:g}: {fmt_values(v, fmt)}" for k, v in zip(keys, series, strict=True))
    return f"{body} (n={'/'.join(str(x) for x in n)} per ε)"


def trend_rule_text(t: Trend) -> str:
    """The step tests of a trend: "steps: Δ=…, 2·SE=… ; …; first→last: …"."""
    steps = "; ".join(s.text() for s in t.steps)
    return f"Δ > 0 in the claimed direction; steps: {steps}; first→last: {t.end.text()}"
