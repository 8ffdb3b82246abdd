"""Training dynamics of one or more runs (paper Fig. 1, 8 and 11).

The numbers are recorded during training (`train.dynamics`, see
`advland.training.dynamics`); this tool only reads them back from the run directories,
aligns the first and last N minibatch updates (`collect_dynamics`), and writes them with
the figures as a job (`advland.analysis.runner`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from advland.analysis.runner import Job, validate_tool
from advland.errors import UserError
from advland.fileio import read_jsonl
from advland.runs.rundir import load_run_config, require_run_dir
from advland.validation import setting


@dataclass(frozen=True)
class DynamicsConfig:
    # first / last N minibatch updates (paper: 2000 CIFAR, 500 MNIST)
    window: int = setting(500, ge=1)

    def __post_init__(self) -> None:
        validate_tool(self)


def load_dynamics(run_dir: str | Path, window: int) -> dict:
    """Per-minibatch series of one run: first and last `window` updates, and the learning curve."""
    run = require_run_dir(run_dir)
    rows = read_jsonl(run / "dynamics.jsonl")
    if not rows:
        raise UserError(
            f"'{run}' has no dynamics.jsonl; train with --set train.dynamics=first-last (or all)"
        )
    cfg = load_run_config(run)
    rows.sort(key=lambda r: r["step"])
    series = {"first": rows[:window], "last": rows[-window:]}
    return {
        "run": str(run),
        "label": f"ε={cfg.attack.eps:g}",
        "eps": cfg.attack.eps,
        **{
            f"{part}_{key}": [r[key] for r in part_rows]
            for part, part_rows in series.items()
            for key in ("step", "grad_norm", "robust_error", "dist_init")
        },
        "epoch": [m["epoch"] for m in read_jsonl(run / "metrics.jsonl")],
        "train_loss": [m["train_loss"] for m in read_jsonl(run / "metrics.jsonl")],
    }


def collect_dynamics(runs: list[str | Path], cfg: DynamicsConfig) -> list[dict]:
    """The dynamics of `runs` (e.g. one per ε), by increasing ε."""
    return sorted((load_dynamics(r, cfg.window) for r in runs), key=lambda d: d["eps"])


def training_dynamics(runs: list[str | Path], cfg: DynamicsConfig, out_dir: str | Path) -> dict:
    """Collect the dynamics of `runs`, write dynamics.json and Fig. 1/8/11-style plots."""
    job = Job("dynamics", out_dir, resume=False)
    data = collect_dynamics(runs, cfg)
    job.write_json("dynamics.json", {"window": cfg.window, "runs": data})
    plots = "advland.reporting.plot_dynamics"
    files = job.figure(f"{plots}:plot_dynamics", data, job.path("dynamics"))
    files += job.figure(f"{plots}:plot_learning_curves", data, job.path("learning_curves"))
    return {"runs": data, "files": [str(f) for f in files]}


def summary_rows(result: dict) -> list[dict]:
    """One row per run: mean gradient norm / error over the first and last windows."""
    rows = []
    for d in result["runs"]:
        rows.append(
            {
                "run": d["label"],
                "grad norm (first)": _mean(d["first_grad_norm"]),
                "grad norm (last)": _mean(d["last_grad_norm"]),
                "robust err % (first)": _mean(d["first_robust_error"]),
                "‖θ−θ0‖ (end of first)": d["first_dist_init"][-1],
            }
        )
    return rows


def _mean(v: list[float]) -> float:
    return sum(v) / max(len(v), 1)
