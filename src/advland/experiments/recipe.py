"""What a reproduction recipe is: a plan of jobs per scale, and a summary of their results.

A recipe's `plan(scale, root)` lists the training runs and analyses the item needs;
`summarize(ctx)` turns their outputs into figures, tables and one verdict per claim of the
paper. The runner (`advland.experiments.runner`) executes the plan and writes the item's
`result.json`, which `advland report` reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advland.experiments import paper
from advland.experiments.jobs import AnalysisJob, TrainJob, run_dir_of
from advland.runs.rundir import read_summary

# The verdict rule family lives in `stats`; these names are re-exported for the recipes.
RULE_VERSION = 2
VERDICTS = ("reproduced", "not reproduced", "inconclusive", "not run")
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = VERDICTS
V1_RULE = "strict inequality of the means over seeds, no noise margin"
V1_REASON = "rule 1 ignored seed noise; rule 2 asks for a difference beyond twice its SE"

SCALES = ("quick", "full")


@dataclass(frozen=True)
class Plan:
    train: tuple[TrainJob, ...] = ()
    analyses: tuple[AnalysisJob, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # shown in the report
    seeds: tuple[int, ...] = ()


@dataclass(frozen=True)
class RunResult:
    job: TrainJob
    path: Path
    summary: dict

    @property
    def tag(self) -> dict[str, Any]:
        return self.job.tag

    @property
    def status(self) -> str:
        return self.summary.get("status", "not run")


@dataclass(frozen=True)
class Context:
    """What `summarize` sees: the plan, where results live, and the trained runs."""

    root: Path
    out: Path  # this item's folder
    scale: str
    plan: Plan

    def runs(self) -> list[RunResult]:
        return [
            RunResult(j, run_dir_of(self.root, j), read_summary(run_dir_of(self.root, j)))
            for j in self.plan.train
        ]

    def run_dir(self, job: TrainJob) -> Path:
        return run_dir_of(self.root, job)

    def analysis_dir(self, job: AnalysisJob) -> Path:
        return self.root / job.out


@dataclass(frozen=True)
class Summary:
    figures: list[str] = field(default_factory=list)  # stems' PNGs, relative to the item folder
    tables: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)


PlanFn = Callable[[str, Path], Plan]
SummarizeFn = Callable[[Context], Summary]


@dataclass(frozen=True)
class Change:
    """One change of an item's verdict rule or quick configuration made after results
    existed. The report shows the earlier verdict beside the current one: computed from the
    same data when `recomputed` (the claims' "earlier" entries), else as recorded here."""

    kind: str  # "rule" | "config"
    version: int  # the version this change introduced
    what: str  # what changed
    reason: str  # why
    earlier: str  # the verdict(s) under the version before
    evidence: str  # the recorded numbers behind `earlier`, or where they are recomputed
    recomputed: bool = False
    scale: str = "quick"


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    claim: str
    plan: PlanFn
    summarize: SummarizeFn
    cost: dict[str, str]  # estimated cost per scale, for `--list`
    rule_version: int = RULE_VERSION  # of the verdict rules in `summarize`
    config_version: int = 1  # of the quick-scale plan
    families: tuple[str, ...] = ("directional",)  # the verdict rules its claims use
    history: tuple[Change, ...] = ()

    def changes(self, scale: str) -> list[dict]:
        return [dataclasses.asdict(c) for c in self.history if c.scale == scale]


def recipe(
    name: str, plan: PlanFn, summarize: SummarizeFn, cost: dict[str, str], **versions: Any
) -> Recipe:
    """The recipe of paper item `name`, with the title and claim `paper.ITEMS` gives it;
    `versions`: rule_version, config_version, families, history (see `Recipe`)."""
    item = paper.item(name)
    return Recipe(item.name, item.title, item.claim, plan, summarize, cost, **versions)


RULE_V1 = Change(
    "rule",
    RULE_VERSION,
    "verdicts by the noise-aware rule family instead of a strict inequality of the means",
    V1_REASON,
    "shown beside each claim (computed from the same data)",
    "each claim's 'earlier' entry",
    recomputed=True,
)


def claim(
    text: str,
    ok: bool | str | None,
    evidence: str,
    *,
    family: str = "check",
    rule: str = "",
    earlier: tuple[dict, ...] | list[dict] = (),
) -> dict:
    """One verdict line. `ok`: a verdict of `stats.VERDICTS`, or True/False for a check,
    None when the data to decide is missing. `rule` states the rule and any tolerance;
    `earlier` the verdicts of earlier rule versions on the same data (`earlier_verdict`)."""
    if isinstance(ok, str):
        if ok not in VERDICTS:
            raise ValueError(f"unknown verdict {ok!r}; one of {', '.join(VERDICTS)}")
        verdict = ok
    else:
        verdict = NOT_RUN if ok is None else (REPRODUCED if ok else NOT_REPRODUCED)
    out: dict = {"claim": text, "verdict": verdict, "evidence": evidence, "family": family}
    if rule:
        out["rule"] = rule
    if earlier:
        out["earlier"] = list(earlier)
    return out


def earlier_verdict(
    version: int, verdict: str, rule: str = V1_RULE, reason: str = V1_REASON
) -> dict:
    """The verdict the same data gets under rule `version` (an earlier one)."""
    return {"rule_version": version, "verdict": verdict, "rule": rule, "reason": reason}


def table(name: str, columns: list[str], rows: list[list], paper: dict | None = None) -> dict:
    """One result table; `paper` holds the published numbers in the same layout, if any."""
    return {"name": name, "columns": columns, "rows": rows, "paper": paper}
