"""`advland evaluate RUN`: re-evaluate a finished run's model(s) with a named suite."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from advland import distributed
from advland.config import RunConfig
from advland.data import load_splits
from advland.device import pick_device
from advland.errors import UserError
from advland.evaluation.report import (
    SUITE_STRENGTH,
    evaluate_run_models,
    failed_errors,
    summary_fields,
)
from advland.evaluation.suites import SUITES
from advland.fileio import atomic_write_json
from advland.runs.checkpoint import load_weights
from advland.runs.model import build_run_model
from advland.runs.rundir import checkpoint_dir, load_run_config, read_summary, require_run_dir


def evaluate(
    run_dir: str | Path,
    suite: str = "standard",
    *,
    checkpoint: str = "latest",
    limit: int | None = None,
    device: str | None = None,
    log: Callable[[str], None] = tqdm.write,
) -> dict:
    """Evaluate `run_dir` (final model, PAS members, ensemble); updates summary.json."""
    if suite not in SUITES:
        raise UserError(f"unknown suite '{suite}'; choose one of {', '.join(SUITES)}")
    run_dir = require_run_dir(run_dir)
    cfg = load_run_config(run_dir)
    if limit is not None or device is not None:
        cfg = _with_eval(cfg, limit, device)
    ck = checkpoint_dir(run_dir) / f"{checkpoint}.pt"
    if not ck.is_file():
        raise UserError(
            f"checkpoint '{ck}' not found; train the run first (advland train --resume {run_dir})"
        )
    summary = read_summary(run_dir)  # verified before any work: a corrupt one writes nothing
    dev = pick_device(cfg.device)
    splits = load_splits(cfg.data)
    model = build_run_model(cfg, splits, dev)
    obj = load_weights(model, ck)
    snapshots = obj.get("snapshots", []) if checkpoint == "latest" else []
    evaluation = evaluate_run_models(
        cfg, run_dir, splits, model, snapshots=snapshots, suite=suite, device=dev, log=log
    )
    main = distributed.is_main()  # under torchrun rank 0 writes the gathered result
    if main:
        atomic_write_json(run_dir / f"eval-{suite}.json", evaluation)
    evals = summary.setdefault("evaluations", {})
    evals[suite] = summary_fields(evaluation, suite) | {"checkpoint": checkpoint}
    strongest = max([*evals, summary.get("suite", "")], key=lambda s: SUITE_STRENGTH.get(s, -1))
    if checkpoint == "latest" and strongest == suite:
        summary.update(summary_fields(evaluation, suite))
    summary["failed_checks"] = failed_errors(evaluation)
    if main:
        atomic_write_json(run_dir / "summary.json", summary)
    return evals[suite] | {"failed_checks": summary["failed_checks"]}


def _with_eval(cfg: RunConfig, limit: int | None, device: str | None) -> RunConfig:
    if limit is not None:
        cfg = replace(cfg, eval=replace(cfg.eval, limit=limit))
    if device is not None:
        cfg = replace(cfg, device=device)
    return cfg
