"""`reproduce(item, scale)`: run a recipe's plan, summarise it, write the item's result.json."""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from advland.errors import UserError
from advland.experiments.executors import ExecutorOptions, check_options
from advland.experiments.jobs import run_dir_of
from advland.experiments.recipe import SCALES, Context, Plan, Recipe
from advland.experiments.stats import status_counts
from advland.experiments.sweep import job_seconds, run_sweep, train_command
from advland.fileio import atomic_write_json, read_json


def check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise UserError(f"unknown scale '{scale}'; choose one of {', '.join(SCALES)}")


def parse_only(items: list[str]) -> dict[str, str]:
    """`--only task=mnist-lenet` (repeatable) → {"task": "mnist-lenet"}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(
                f"--only '{item}' must look like tag=value, e.g. --only task=mnist-lenet"
            )
        out[key] = value
    return out


def select(plan: Plan, only: dict[str, str]) -> Plan:
    """The part of `plan` whose runs carry every tag in `only` (values compared as text)."""
    if not only:
        return plan
    keep = tuple(j for j in plan.train if all(str(j.tag.get(k)) == v for k, v in only.items()))
    if not keep:
        tags = sorted({f"{k}={v}" for j in plan.train for k, v in j.tags})
        raise UserError(f"--only {only} matches no run; tags in this item: {', '.join(tags)}")
    keys = {j.key for j in keep}
    analyses = tuple(a for a in plan.analyses if any(k in a.name for k in keys))
    return dataclasses.replace(plan, train=keep, analyses=analyses)


def make_plan(
    recipe: Recipe, scale: str, root: Path, only: dict[str, str], overrides: tuple[str, ...] = ()
) -> Plan:
    check_scale(scale)
    return with_overrides(select(recipe.plan(scale, root), only), overrides, root)


def with_overrides(plan: Plan, overrides: tuple[str, ...], root: Path) -> Plan:
    """Every training run of `plan` with `--set` `overrides` appended (e.g.
    `model.name=my_pkg.models:net`); the runs' folders, and the analyses reading them, are
    renamed with the new content hash, so they never mix with runs made without them."""
    if not overrides:
        return plan
    train = tuple(dataclasses.replace(j, overrides=(*j.overrides, *overrides)) for j in plan.train)
    renames = {
        str(run_dir_of(root, old)): str(run_dir_of(root, new))
        for old, new in zip(plan.train, train, strict=True)
    }
    keys = {old.key: new.key for old, new in zip(plan.train, train, strict=True)}

    def rename(text: str, table: dict[str, str]) -> str:
        for a, b in table.items():
            text = text.replace(a, b)
        return text

    analyses = tuple(
        dataclasses.replace(
            a,
            name=rename(a.name, keys),
            argv=tuple(rename(x, renames) for x in a.argv),
            out=rename(a.out, keys),
        )
        for a in plan.analyses
    )
    return dataclasses.replace(plan, train=train, analyses=analyses)


def dry_run(
    recipe: Recipe,
    scale: str,
    root: Path,
    only: dict[str, str] | None = None,
    overrides: tuple[str, ...] = (),
) -> list[str]:
    """Validate every run's config (as `advland train` would) and list the commands."""
    from advland.config import build_config

    plan = make_plan(recipe, scale, root, only or {}, overrides)
    lines = []
    for job in plan.train:
        build_config(job.config_path(), [*job.overrides, f"name={job.key}"])
        lines.append("advland " + " ".join(train_command(root, job)))
    lines += ["advland " + " ".join(a.full_argv(root)) for a in plan.analyses]
    return lines


def check_data(plan: Plan) -> None:
    """Find (or download) every registered dataset the plan's runs read, before any run
    starts: without CIFAR-10 a full-scale item stops here with one line saying how to
    provide it, instead of failing each of its runs."""
    from advland.config import build_config
    from advland.data.download import ensure_files
    from advland.data.registry import get_record, is_registered

    needed = set()
    for job in plan.train:
        data = build_config(job.config_path(), [*job.overrides, f"name={job.key}"]).data
        if is_registered(data.name) and get_record(data.name).kind != "mnist5k":
            needed.add((data.name, data.data_dir))
    for name, data_dir in sorted(needed):
        ensure_files(get_record(name), data_dir, download=True, progress=True)


def reproduce(
    recipe: Recipe,
    scale: str,
    root: Path,
    workers: int,
    only: dict[str, str] | None = None,
    log=None,
    *,
    overrides: tuple[str, ...] = (),
    executor: ExecutorOptions | None = None,
) -> dict:
    """Run (or resume) everything `recipe` needs at `scale` under `root`; returns result.json.
    `overrides` are `--set` values applied to every training run; `executor` says where the
    jobs run (default: `workers` local processes)."""
    if executor is not None:
        check_options(executor)  # refuse bad executor options before anything runs
    dry_run(recipe, scale, root, only, overrides)  # refuse a bad recipe before training
    start = time.perf_counter()
    plan = make_plan(recipe, scale, root, only or {}, overrides)
    check_data(plan)
    outcomes = run_sweep(root, plan.train, plan.analyses, workers, log, executor=executor)
    out = root / recipe.name
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(root=root, out=out, scale=scale, plan=plan)
    summary = recipe.summarize(ctx)
    failed = [o for o in outcomes if o.status == "failed"]
    result = {
        "item": recipe.name,
        "title": recipe.title,
        "claim": recipe.claim,
        "scale": scale,
        "settings": {**plan.settings, **({"only": only} if only else {})},
        "seeds": list(plan.seeds),
        "rule_version": recipe.rule_version,
        "config_version": recipe.config_version if scale == "quick" else 1,
        "families": list(recipe.families),
        "history": recipe.changes(scale),
        "figures": [f"{f}.png" for f in summary.figures],
        "tables": summary.tables,
        "claims": summary.claims,
        "runs": status_counts(ctx.runs()),
        "failed_jobs": [{"job": o.name, "last_line": o.detail} for o in failed],
        "wall_s": _wall_seconds(out, outcomes, time.perf_counter() - start),
        "compute_s": round(item_seconds(root, plan), 1),
        "hardware": hardware(),
        "versions": versions(),
        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    atomic_write_json(out / "result.json", result)
    return result


def _wall_seconds(out: Path, outcomes: list, seconds: float) -> float:
    """This invocation's wall time, or, when it only re-summarised finished work, the wall
    time of the run that did the work (so a re-summary does not report seconds)."""
    previous = out / "result.json"
    if previous.is_file() and not any(o.seconds > 0 for o in outcomes):
        return float(read_json(previous).get("wall_s", seconds))
    return round(seconds, 1)


def item_seconds(root: Path, plan: Plan) -> float:
    """Wall seconds of every job this item needs, whichever sweep ran them: its cost from
    scratch with one worker (shared runs count for each item that uses them)."""
    names = [j.key for j in plan.train] + [a.name for a in plan.analyses]
    return sum(job_seconds(root, n) for n in names)


def hardware() -> dict:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": _cpu_name(), "cores": os.cpu_count(), "gpu": gpu}


def _cpu_name() -> str:
    # platform.processor() is empty on most Linux systems; /proc/cpuinfo names the model.
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    import torch

    import advland

    return {
        "advland": advland.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
