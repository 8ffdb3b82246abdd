"""Robustness curves: a run's model evaluated at several budgets ε, one record per ε.

`parse_eps` checks an ε list from the command line; `evaluate_curve` loads the requested
checkpoint, attacks a seeded subset of the test split at every ε and writes
`evaluations/<suite>-<checkpoint>-<norm>.json` (RobustBench's fields per ε plus
per-example results) and the plot `robustness-curve-<...>.png/.pdf` (matplotlib loaded
only then).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from advland import distributed
from advland.errors import UserError
from advland.evaluation.api import check_suite, checkpoint_files, evaluate_model, load_model
from advland.evaluation.sanity import black_box_only
from advland.fileio import atomic_write_json


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
    """One record per ε for the run's `checkpoint`; writes the JSON and the plot."""
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
    x, y = test.x, test.y
    records = []
    for eps in eps_list:
        ev = evaluate_model(
            model, (x, y), eps=eps, norm=norm, suite=suite, limit=limit or cfg.eval.limit,
            seed=cfg.eval.seed, batch_size=cfg.eval.batch_size,
            name=f"{run_dir.name}/{checkpoint}",
        )  # fmt: skip
        flag = black_box_only(ev.results[0])
        rec = ev.summary | {"black_box_only": flag, "per_example": ev.per_example}
        log(
            f"{run_dir.name} {checkpoint} ε={eps:g}: clean {rec['clean_error']:.2f}%, robust "
            f"{rec['robust_error']:.2f}% on {rec['n_examples']} points ({suite})"
        )
        records.append(rec)
    if distributed.is_main():  # under torchrun rank 0 writes the gathered result
        stem = run_dir / "evaluations" / f"{suite}-{checkpoint}-{norm}"
        stem.parent.mkdir(exist_ok=True)
        atomic_write_json(stem.with_suffix(".json"), records)
        plot_curve(records, stem.with_name(f"robustness-curve-{suite}-{checkpoint}-{norm}"))
    return {"run": str(run_dir), "checkpoint": checkpoint, "records": records}


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
