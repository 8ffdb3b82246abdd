"""Evaluate any model from Python, and load a run's model by checkpoint name.

`evaluate_model(model, data, eps=…)` attacks any `nn.Module` whose inputs are in [0,1] and
whose output is [N, classes] logits, on tensors or a DataLoader, with a named suite and
the suites that must not be stronger (`suites.WEAKER`), and returns per-example results,
a summary whose robust error is the per-example worst case over every attack run, and the
sanity checks of the result (`advland.evaluation.sanity`).
`load_model(run_dir, checkpoint)` returns a run's final, best, snapshot or ensemble model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advland.errors import UserError
from advland.evaluation.ensemble import SnapshotEnsemble
from advland.evaluation.robust import CLEAN, EvalResult, robust_evaluate
from advland.evaluation.sanity import eps0_equals_clean, failed, result_checks
from advland.evaluation.suites import SUITES, WEAKER


@dataclass(frozen=True)
class ModelEvaluation:
    """Per-example results (`broken_by`: "" robust, "clean", or the attack that broke the
    point first, over every suite run), the summary (RobustBench's fields and ours) and the
    sanity checks (`{name, passed, detail[, level]}`)."""

    per_example: dict
    summary: dict
    results: list[EvalResult]
    checks: list[dict] = field(default_factory=list)


def check_suite(suite: str) -> None:
    if suite not in SUITES:
        raise UserError(f"unknown suite '{suite}'; choose one of {', '.join(SUITES)}")


def check_output(model: nn.Module, x: torch.Tensor, device) -> int:
    """Number of classes of `model`; UserError unless one forward gives [N, classes≥2]."""
    xb = x[:2].to(device)
    xb = xb.float().div(255) if xb.dtype == torch.uint8 else xb
    with torch.no_grad():
        out = model.eval()(xb)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != xb.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(
            f"the model's output is {shape} for a batch of {xb.shape[0]}; evaluation needs "
            "logits of shape [N, classes]"
        )
    if out.shape[1] < 2:
        raise UserError(f"the model's output has {out.shape[1]} class; evaluation needs >= 2")
    return int(out.shape[1])


def _tensors(data) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return data[0], data[1]
    if isinstance(data, Iterable):
        xs, ys = zip(*((b[0], b[1]) for b in data), strict=True)
        return torch.cat(xs), torch.cat(ys)
    raise UserError("data must be (x, y) tensors or a DataLoader of (x, y) batches")


def seeded_subset(n: int, limit: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded random subset of `limit` of n points (all when None/0)."""
    if not limit or limit >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].sort()[0]


def evaluate_model(
    model: nn.Module,
    data,
    *,
    eps: float,
    norm: str = "linf",
    suite: str = "autoattack",
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 500,
    device: torch.device | None = None,
    name: str = "model",
    eps0_check: bool = True,
) -> ModelEvaluation:
    """Robust evaluation of any classifier on (x, y) tensors or a DataLoader, inputs in [0,1].

    The checks always include those of the result at `eps`; `eps0_check` adds the suite run
    at ε = 0 (its cost is one more suite run on up to 64 points; a robustness curve runs it
    once for all its budgets)."""
    check_suite(suite)
    x, y = _tensors(data)
    idx = seeded_subset(y.shape[0], limit, seed)
    x, y = x[idx], y[idx]
    device = device or next(model.parameters(), torch.empty(0)).device
    check_output(model, x, device)
    results = [
        robust_evaluate(
            model, x, y, eps=eps, norm=norm, suite=s, batch_size=batch_size, seed=seed,
            device=device,
        )
        for s in (suite, *WEAKER[suite])
    ]  # fmt: skip
    broken = worst_case(results)
    per_example = {"index": idx.tolist(), "label": y.tolist(), "broken_by": broken}
    checks = result_checks(
        model, x, y, results[0], weaker=results[1:], batch_size=batch_size, device=device
    )
    if eps0_check:
        zero = eps0_equals_clean(
            model, x, y, suite=suite, norm=norm, batch_size=batch_size, device=device
        )
        checks.insert(0, zero)
    info = summary(results, broken, name=name) | {
        "failed_checks": failed(checks),
        "warnings": failed(checks, "warning"),
    }
    return ModelEvaluation(per_example, info, results, checks)


def worst_case(results: list[EvalResult]) -> list[str]:
    """Per point: "" if no attack of any result broke it, else the first attack that did."""
    out = []
    for marks in zip(*(r.broken_by for r in results), strict=True):
        out.append(next((m for m in marks if m), ""))
    return out


def summary(results: list[EvalResult], broken: list[str], *, name: str) -> dict:
    """RobustBench's fields (clean/robust accuracy, norm, ε, attacks, n, model, date) plus
    the error numbers advland reports and the count of points each attack broke."""
    main, n = results[0], len(broken)
    robust = sum(b == "" for b in broken)
    clean_wrong = sum(b == CLEAN for b in broken)
    counts: dict[str, int] = {}
    for b in broken:
        if b not in ("", CLEAN):
            counts[b] = counts.get(b, 0) + 1
    return {
        "model": name,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        "norm": main.norm,
        "eps": main.eps,
        "suite": main.suite,
        "attacks": main.attack,
        "n_examples": n,
        "clean_acc": 100.0 * (n - clean_wrong) / n if n else 0.0,
        "robust_acc": 100.0 * robust / n if n else 0.0,
        "clean_error": 100.0 * clean_wrong / n if n else 0.0,
        "robust_error": 100.0 * (n - robust) / n if n else 0.0,
        "suite_errors": {r.suite: r.robust_error for r in results},
        "broken_by_attack": counts,
    }


def load_model(
    run_dir: str | Path, checkpoint: str = "best", *, device: str | None = None
) -> nn.Module:
    """A run's model in eval mode: "best" (best validation, else the final weights),
    "latest" (final), "snapshot-K" (PAS period K) or "ensemble" (all snapshots)."""
    return _load(run_dir, checkpoint, device)[0]


def check_run_model(run_dir: str | Path, checkpoint: str, *, device: str | None = None) -> None:
    """UserError unless the run's `checkpoint` loads and its model maps two test points to
    [N, classes] logits (a user's import-path model may not): checked before any work."""
    model, splits = _load(run_dir, checkpoint, device)
    x = splits.test.x[:2]
    check_output(model, x, next(model.parameters(), torch.empty(0)).device)


def _load(run_dir: str | Path, checkpoint: str, device: str | None) -> tuple[nn.Module, Any]:
    """(the model of `load_model`, the run's data splits)."""
    from advland.data import load_splits
    from advland.device import pick_device
    from advland.runs.checkpoint import load_file, load_weights
    from advland.runs.model import build_run_model
    from advland.runs.rundir import checkpoint_dir, load_run_config, require_run_dir

    run = require_run_dir(run_dir)
    cfg = load_run_config(run)
    ck_dir = checkpoint_dir(run)
    names = checkpoint_files(ck_dir, checkpoint, load_file)
    dev = pick_device(device or cfg.device)
    splits = load_splits(cfg.data)
    models = []
    for name in names:
        m = build_run_model(cfg, splits, dev)
        load_weights(m, ck_dir / name)
        models.append(m)
    model = models[0] if checkpoint != "ensemble" else SnapshotEnsemble(models)
    return model.eval(), splits


def checkpoint_files(ck_dir: Path, checkpoint: str, load_file) -> list[str]:
    """The weight files a checkpoint name stands for; UserError when they do not exist."""
    ok = checkpoint in ("best", "latest", "ensemble") or (
        checkpoint.startswith("snapshot-") and checkpoint[9:].isdigit()
    )
    if not ok:
        raise UserError(
            f"checkpoint '{ck_dir / (checkpoint + '.pt')}' is not a checkpoint name; use best, "
            "latest, snapshot-K or ensemble"
        )
    if checkpoint == "best" and not (ck_dir / "best.pt").is_file():
        checkpoint = "latest"  # runs without validation keep no best.pt
    if checkpoint == "ensemble":
        latest = ck_dir / "latest.pt"
        snaps = load_file(latest).get("snapshots", []) if latest.is_file() else []
        if not snaps:
            raise UserError(f"'{ck_dir.parent}' has no PAS snapshots; it has no ensemble")
        return list(snaps)
    if not (ck_dir / f"{checkpoint}.pt").is_file():
        raise UserError(
            f"checkpoint '{ck_dir / (checkpoint + '.pt')}' not found; list {ck_dir} for the "
            "run's checkpoints"
        )
    return [f"{checkpoint}.pt"]
