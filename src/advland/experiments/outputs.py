"""Reading analysis outputs back for a recipe's summary (JSON written by `advland analyze`)."""

from __future__ import annotations

from pathlib import Path

from advland.fileio import read_json


def load_json(path: Path) -> dict | None:
    """The verified JSON at `path`, or None when the analysis has not produced it."""
    if not path.is_file():
        return None
    return read_json(path, rerun="rerun 'advland reproduce' for this item")


def config_eps(config: dict) -> float:
    """The attack budget ε in the "config" of a saved analysis result: `attack.eps`, or the
    flat `eps` of result files written before the attack settings were nested."""
    return config["attack"]["eps"] if "attack" in config else config["eps"]


def outputs_by_eps(ctx, task: str | None = None) -> dict[float, dict[int, dict]]:
    """ε → seed → the result JSON of each run's analysis, for plans that pair every training
    run with one analysis (Fig. 2/3/9/10/12); runs of other tasks and missing outputs left
    out. Sorted by ε, then seed."""
    out: dict[float, dict[int, dict]] = {}
    for job, analysis in zip(ctx.plan.train, ctx.plan.analyses, strict=True):
        if task is not None and job.tag.get("task") != task:
            continue
        record = load_json(ctx.analysis_dir(analysis) / analysis.done)
        if record is not None:
            out.setdefault(job.tag["eps"], {})[job.tag.get("seed", 0)] = record
    return {e: dict(sorted(out[e].items())) for e in sorted(out)}


def common_seeds(by_eps: dict[float, dict[int, dict]]) -> list[int]:
    """The seeds with a result at every ε (so per-ε series stay paired by seed)."""
    if not by_eps:
        return []
    return sorted(set.intersection(*(set(v) for v in by_eps.values())))


def series_of(by_eps: dict[float, dict[int, dict]], metric) -> list[list[float]]:
    """Per ε, `metric(record)` over the seeds present at every ε (in seed order)."""
    seeds = common_seeds(by_eps)
    return [[float(metric(by_seed[s])) for s in seeds] for by_seed in by_eps.values()]
