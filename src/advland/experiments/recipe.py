"""What a reproduction recipe is: a plan of jobs per scale, and a summary of their results.

A recipe's `plan(scale, root)` lists the training runs and analyses the item needs;
`summarize(ctx)` turns their outputs into figures, tables and one verdict per claim of the
paper. The runner (`advland.experiments.runner`) executes the plan and writes the item's
`result.json`, which `advland report` reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advland.experiments import paper
from advland.experiments.jobs import AnalysisJob, TrainJob, run_dir_of
from advland.runs.rundir import read_summary

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
class Recipe:
    name: str
    title: str
    claim: str
    plan: PlanFn
    summarize: SummarizeFn
    cost: dict[str, str]  # estimated cost per scale, for `--list`


def recipe(name: str, plan: PlanFn, summarize: SummarizeFn, cost: dict[str, str]) -> Recipe:
    """The recipe of paper item `name`, with the title and claim `paper.ITEMS` gives it."""
    item = paper.item(name)
    return Recipe(item.name, item.title, item.claim, plan, summarize, cost)


def claim(text: str, ok: bool | None, evidence: str) -> dict:
    """One verdict line; `ok=None` means the data to decide is missing."""
    verdict = "not run" if ok is None else ("reproduced" if ok else "not reproduced")
    return {"claim": text, "verdict": verdict, "evidence": evidence}


def table(name: str, columns: list[str], rows: list[list], paper: dict | None = None) -> dict:
    """One result table; `paper` holds the published numbers in the same layout, if any."""
    return {"name": name, "columns": columns, "rows": rows, "paper": paper}
