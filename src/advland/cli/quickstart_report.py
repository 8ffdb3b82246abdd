"""The Quickstart's table and comparisons, from its runs' summaries (pure: no I/O).

Rows are per seed; `table_rows` aggregates them over seeds (mean ± std, n) and
`comparisons` decides the paper's two claims with the paired noise rule: seeds pair the
arms, so the difference is taken per seed and judged against its own standard error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

CHANCE = 90.0  # a diverged run counts as chance level on 10 classes, in every arm alike
PERIODS = 3  # the Quickstart's PAS periods
MATCH_TOL = 1.0  # points: "matches" allows the ensemble this much above its best member

WHAT = {
    "constant": "ε = 0.3 from the first step",
    "cosine": "cosine ε warmup from 0 over the run (eq. 5), one period",
    "cosine-pas snapshot {k}": "PAS: the model at the end of period {k}",
    "cosine-pas ensemble": "PAS: mean softmax of the period-end snapshots, attacked as one model",
}


def per_seed_rows(summaries: dict[tuple[str, int], dict], epochs: int) -> list[dict]:
    """One row per model and seed: the final models, each PAS snapshot and the ensemble."""
    rows = []
    for (name, seed), s in summaries.items():
        if name != "cosine-pas":
            rows.append(_row(name, seed, s, s, WHAT[name]))
            continue
        members = s.get("ensemble", {}).get("members", [])
        if s.get("status") == "diverged":  # no snapshots to read: each counts as chance
            members = [{}] * PERIODS
        for k, m in enumerate(members, 1):
            row = _row(f"cosine-pas snapshot {k}", seed, s, m, _what_snapshot(k, epochs))
            if k == len(members):  # the last snapshot is the final model: its PGD-20 too
                row["quick %"] = _quick(s)
            rows.append(row)
        rows.append(
            _row("cosine-pas ensemble", seed, s, s.get("ensemble", {}), WHAT["cosine-pas ensemble"])
        )
    return rows


def _what_snapshot(k: int, epochs: int) -> str:
    ends = [epochs // 2, (3 * epochs) // 4, epochs]
    return f"PAS: the model at the end of period {k} (epoch {ends[min(k, 3) - 1]})"


def _row(name: str, seed: int, summary: dict, res: dict, what: str) -> dict:
    diverged = summary.get("status") == "diverged"
    return {
        "model": name,
        "seed": seed,
        "status": summary.get("status"),
        "clean error %": CHANCE if diverged else res.get("clean_error"),
        "robust error %": CHANCE if diverged else res.get("robust_error"),
        "quick %": None if diverged or res is not summary else _quick(summary),
        "what": what,
    }


def _quick(summary: dict) -> float | None:
    return summary.get("suite_errors", {}).get("quick")


def table_rows(rows: list[dict], seeds: int) -> list[dict]:
    """Rows aggregated over seeds, in first-seen order: one seed prints its numbers, several
    print mean ± sample std with n."""
    names = list(dict.fromkeys(r["model"] for r in rows))
    out = []
    for name in names:
        group = [r for r in rows if r["model"] == name]
        cells = {k: _cell([r[k] for r in group], seeds) for k in _NUMBERS}
        diverged = sum(r["status"] == "diverged" for r in group)
        row = {"model": name, **cells, "n seeds": len(group), "what": group[0]["what"]}
        if diverged:
            row["what"] += f" ({diverged} diverged, counted as {CHANCE:.0f}%)"
        out.append(row)
    return out


_NUMBERS = ("clean error %", "robust error %", "quick %")


def _cell(values: Sequence[float | None], seeds: int) -> float | str | None:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None if seeds == 1 else ""
    if seeds == 1:
        return vals[0]
    from advland.experiments.stats import mean_std

    m, s = mean_std(vals)
    return f"{m:.2f} ± {s:.2f}"


def comparisons(rows: list[dict]) -> list[dict]:
    """The paper's claims on these runs, each with its per-seed numbers and verdict."""
    robust = _by_seed(rows, "robust error %")
    seeds = sorted(robust.get("constant", {}))
    snaps = [k for k in robust if k.startswith("cosine-pas snapshot")]
    best = {
        s: min(robust[k][s] for k in snaps)
        for s in seeds
        if all(s in robust[k] for k in snaps) and snaps
    }
    ens = robust.get("cosine-pas ensemble", {})
    return [
        paired(
            "ε warmup beats constant ε",
            better=[robust["cosine"][s] for s in seeds],
            worse=[robust["constant"][s] for s in seeds],
            labels=("cosine", "constant"),
        ),
        paired(
            "the PAS ensemble beats or matches its best member",
            better=[ens[s] for s in seeds if s in best],
            worse=[best[s] for s in seeds if s in best],
            labels=("ensemble", "best snapshot"),
            match_tol=MATCH_TOL,
        ),
        paired(
            "PAS (ensemble) beats ε warmup without resets",
            better=[ens[s] for s in seeds if s in ens],
            worse=[robust["cosine"][s] for s in seeds if s in ens],
            labels=("PAS ensemble", "cosine"),
        ),
    ]


def _by_seed(rows: list[dict], key: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for r in rows:
        if r[key] is not None:
            out.setdefault(r["model"], {})[r["seed"]] = float(r[key])
    return out


def paired(
    claim: str,
    *,
    better: Sequence[float],
    worse: Sequence[float],
    labels: tuple[str, str],
    match_tol: float | None = None,
) -> dict:
    """Verdict on "`better` has the lower robust error", seeds paired: the directional rule
    of the reproduce items (`advland.experiments.stats.directional`, paired SE). With
    `match_tol` the claim is "beats or matches": a mean difference ≥ −match_tol also
    reproduces. One seed has no spread, so it gets no verdict.
    """
    from advland.experiments.stats import REPRODUCED, directional

    n = len(better)
    if n == 0:
        return {"claim": claim, "verdict": "not run", "line": f"{claim}: not run", "n": 0}
    test = directional(better, worse, paired=True)  # claim: `worse` exceeds `better`
    m, se = test.diff, test.se if n > 1 else math.nan
    if n < 2:
        verdict = "one seed"
    elif test.verdict == REPRODUCED:
        verdict = "reproduced"
    elif match_tol is not None and m >= -match_tol:
        verdict = "reproduced (matches)"
    else:
        verdict = test.verdict
    nums = ", ".join(f"{b:.1f} vs {w:.1f}" for b, w in zip(better, worse, strict=True))
    rule = "one seed: no spread to judge (run --seeds 3)" if n == 1 else f"SE {se:.2f}"
    tol = "" if match_tol is None else f", match tolerance {match_tol:g}"
    line = (
        f"{claim}: {verdict} — {labels[0]} vs {labels[1]} robust error per seed: {nums}; "
        f"mean difference {m:+.2f} points ({rule}{tol}, n={n})"
    )
    return {"claim": claim, "verdict": verdict, "mean_difference": m, "se": se, "n": n,
            "line": line}  # fmt: skip
