"""Robustness curves: a run's model evaluated at several budgets ε, one record per ε.

`parse_eps` checks an ε list from the command line; `evaluate_curve` loads the requested
checkpoint and, at every ε, runs the whole chosen suite and the weaker suites beside it on
the same seeded subset of the test split (`api.evaluate_model`): each ε's robust error is
the per-example worst case over every attack run at that ε. The sanity checks that depend
on ε (robust ≥ clean, the stronger suite ≥ the weaker, the black-box-only and zero-gradient
flags) are computed for each ε; the ε = 0 check runs once per curve; and across budgets the
robust error must not drop as ε grows (`robust_error_grows_with_eps`, a masking symptom when
it does). It writes `evaluations/<suite>-<checkpoint>-<norm>.json` (the curve's checks and
one record per ε with RobustBench's fields, its checks and per-example results) and the
plot `robustness-curve-<...>.png/.pdf` (matplotlib loaded only then).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from advland import distributed
from advland.errors import UserError
from advland.evaluation.api import (
    check_output,
    check_suite,
    checkpoint_files,
    evaluate_model,
    load_model,
    seeded_subset,
)
from advland.evaluation.sanity import eps0_equals_clean, failed
from advland.fileio import atomic_write_json

MONOTONE_SLACK = 0.01  # share of points (at least 2) the robust error may drop as ε grows


def parse_eps(text: str) -> list[float]:
    """'0.1,0.2,0.3' -> [0.1, 0.2, 0.3]; UserError on a non-numeric or negative value."""
    out = []
    for part in text.split(","):
        try:
            v = float(part)
        except ValueError:
            raise UserError(
                f"--eps value '{part.strip()}' is not a number; give e.g. --eps 0.1,0.2,0.3"
            ) from None
        if not math.isfinite(v) or v < 0:
            raise UserError(f"--eps value {part.strip()} must be a finite number >= 0")
        out.append(v)
    return out


def evaluate_curve(
    run_dir: Path,
    eps_list: list[float],
    *,
    norm: str,
    suite: str,
    checkpoint: str,
    limit: int | None,
    device: str | None,
    log: Callable[[str], None],
) -> dict:
    """One record per ε for the run's `checkpoint`, and the curve's checks; writes the JSON
    and the plot. Nothing is written when the run, checkpoint or model is unusable."""
    from advland.data import load_splits
    from advland.runs.checkpoint import load_file
    from advland.runs.rundir import checkpoint_dir, load_run_config, require_run_dir

    check_suite(suite)
    if norm not in ("linf", "l2"):
        raise UserError(f"unknown norm '{norm}'; use linf or l2")
    run_dir = require_run_dir(run_dir)
    checkpoint_files(checkpoint_dir(run_dir), checkpoint, load_file)  # before any work
    cfg = load_run_config(run_dir)
    model = load_model(run_dir, checkpoint, device=device)
    test = load_splits(cfg.data).test
    idx = seeded_subset(test.y.shape[0], limit or cfg.eval.limit, cfg.eval.seed)
    x, y = test.x[idx], test.y[idx]
    x = x.float().div(255) if x.dtype == torch.uint8 else x
    dev = next(model.parameters()).device
    check_output(model, x, dev)  # [N, classes] before any attack
    records = []
    for eps in sorted(eps_list):
        ev = evaluate_model(
            model, (x, y), eps=eps, norm=norm, suite=suite, seed=cfg.eval.seed,
            batch_size=cfg.eval.batch_size, name=f"{run_dir.name}/{checkpoint}",
            eps0_check=False,
        )  # fmt: skip
        per_example = ev.per_example | {"index": idx.tolist()}  # test-split indices
        rec = ev.summary | {"sanity": ev.checks, "per_example": per_example}
        _log_record(rec, run_dir.name, checkpoint, log)
        records.append(rec)
    checks = [
        eps0_equals_clean(
            model, x, y, suite=suite, norm=norm, batch_size=cfg.eval.batch_size, device=dev
        ),
        grows_with_eps(records),
    ]
    out = {"run": str(run_dir), "checkpoint": checkpoint, "suite": suite, "norm": norm,
           "sanity": checks, "records": records,
           "failed_checks": failed(checks) + [n for r in records for n in r["failed_checks"]]}  # fmt: skip
    return _write(out, run_dir, log)


def _write(out: dict, run_dir: Path, log: Callable[[str], None]) -> dict:
    """Log the curve's failed checks, write its JSON and its plot; returns `out`."""
    for c in out["sanity"]:
        if not c["passed"]:
            level = c.get("level", "error").upper()
            log(f"{level}: sanity check '{c['name']}' failed: {c['detail']}")
    if not distributed.is_main():  # under torchrun rank 0 writes the gathered result
        return out
    name = f"{out['suite']}-{out['checkpoint']}-{out['norm']}"
    stem = run_dir / "evaluations" / name
    stem.parent.mkdir(exist_ok=True)
    atomic_write_json(stem.with_suffix(".json"), out)
    plot_curve(out["records"], stem.with_name(f"robustness-curve-{name}"))
    return out


def _log_record(rec: dict, run: str, checkpoint: str, log: Callable[[str], None]) -> None:
    weaker = ", ".join(f"{s} {e:.2f}%" for s, e in rec["suite_errors"].items())
    log(
        f"{run} {checkpoint} ε={rec['eps']:g}: clean {rec['clean_error']:.2f}%, robust "
        f"{rec['robust_error']:.2f}% on {rec['n_examples']} points (worst case; each suite "
        f"alone: {weaker})"
    )
    for c in rec["sanity"]:
        if not c["passed"]:
            level = c.get("level", "error").upper()
            log(f"{level}: sanity check '{c['name']}' at ε={rec['eps']:g} failed: {c['detail']}")


def grows_with_eps(records: list[dict]) -> dict:
    """(records sorted by ε) Warning when a larger ε reports a robust error lower than a smaller ε by more than 1%
    of the points (at least 2): the attacks then fail at the larger budget, a masking
    symptom, since every perturbation allowed at ε is allowed at any larger ε."""
    drops = []
    for k, b in enumerate(records[1:], start=1):
        a = max(records[:k], key=lambda r: r["robust_error"])  # the highest at a smaller ε
        n = max(a["n_examples"], 1)
        slack = 100.0 * max(2, MONOTONE_SLACK * n) / n
        if b["robust_error"] < a["robust_error"] - slack:
            drops.append(f"ε={a['eps']:g} {a['robust_error']:.2f}% > ε={b['eps']:g} "
                         f"{b['robust_error']:.2f}%")  # fmt: skip
    return {
        "name": "robust_error_grows_with_eps",
        "passed": not drops,
        "level": "warning",
        "detail": "; ".join(drops) or f"robust error non-decreasing over {len(records)} budgets",
    }


def plot_curve(records: list[dict], stem: Path) -> None:
    """Robust and clean error against ε (matplotlib imported here, lazily)."""
    from advland.reporting.figure import new_figure, save_figure

    fig, axes = new_figure(1, 1, (4.5, 3.2))
    ax = axes[0][0]
    eps = [r["eps"] for r in records]
    ax.plot(eps, [r["robust_error"] for r in records], "o-", label="robust error")
    ax.plot(eps, [r["clean_error"] for r in records], "s--", label="clean error")
    ax.set_xlabel(f"ε ({records[0]['norm']})")
    ax.set_ylabel("error %")
    ax.set_title(f"{records[0]['model']}: {records[0]['suite']}, n={records[0]['n_examples']}")
    ax.legend()
    data = {k: [r[k] for r in records] for k in ("eps", "clean_error", "robust_error")}
    save_figure(fig, data, stem)
