"""`advland quickstart`: the README's main job — a short PAS-vs-constant comparison.

Trains LeNet w=4 on the embedded mnist-5k digits (no download) three ways — constant ε,
cosine ε warmup, cosine warmup + PAS (two periods, snapshot ensemble) — and prints clean
and robust test error side by side. Each variant is an ordinary run directory.
"""

from __future__ import annotations

from pathlib import Path

from advland.cli.common import add_set_argument, fresh_dir, print_table
from advland.config import build_config
from advland.fileio import atomic_write_json

# The reported robust error: AutoAttack on a seeded subset of the test digits (its CPU cost
# on the 2-core reference machine is what sets the subset size; docs/evaluation.md).
EVAL = ["eval.suite=autoattack", "eval.limit=100"]

VARIANTS = {
    "constant": [],
    "cosine": ["eps_schedule.kind=cosine"],
    "cosine-pas": ["eps_schedule.kind=cosine", "train.periods=[0,{half},{epochs}]"],
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "quickstart", help="constant vs cosine vs cosine+PAS on mnist-5k (CPU, minutes)"
    )
    p.add_argument("--out", help="folder for the three run directories (default runs/quickstart)")
    p.add_argument(
        "--epochs", type=int, default=None, help="epochs per run (default from the recipe)"
    )
    add_set_argument(p, "a value of configs/quickstart.yaml")
    p.set_defaults(func=run)


def recipe_path() -> Path:
    """The built-in quickstart recipe (shipped inside the package)."""
    from advland.config import config_path

    return config_path("quickstart")


def run(args) -> int:
    from advland.errors import UserError
    from advland.training import loop

    if args.epochs is not None and args.epochs < 2:
        raise UserError(f"--epochs must be >= 2 (PAS needs two periods), got {args.epochs}")
    base = build_config(recipe_path(), [*EVAL, *args.overrides])
    epochs = args.epochs or base.train.epochs
    out = Path(args.out) if args.out else fresh_dir(Path("runs") / "quickstart")
    rows = []
    for name, extra in VARIANTS.items():
        sets = [s.format(half=epochs // 2, epochs=epochs) for s in extra]
        cfg = build_config(
            recipe_path(),
            [*EVAL, *args.overrides, f"train.epochs={epochs}", f"name={name}", *sets],
        )
        print(f"\n=== {name}: {out / name} ===")
        s = loop.train(cfg, out / name)
        rows.append(_row(name, s, s))
        if "ensemble" in s:
            rows.append(_row(f"{name} (ensemble)", s, s["ensemble"]))
    atomic_write_json(out / "comparison.json", rows)
    n, suite = s.get("n_test"), s.get("suite")
    print(
        f"\nmnist-5k test split, LeNet w=4, ε=0.3 (linf), {epochs} epochs; robust = {suite} "
        f"on a seeded subset of n={n} test digits (worst case with PGD-20), quick = PGD-20 "
        "alone on the same digits"
    )
    print_table(rows)
    _suite_gaps(out / "cosine", suite)
    print(f"\nrun directories and comparison.json under {out}")
    return 0


def _row(name: str, summary: dict, res: dict) -> dict:
    return {
        "schedule": name,
        "status": summary["status"],
        "clean error %": res.get("clean_error"),
        "robust error %": res.get("robust_error"),
        "quick %": res.get("suite_errors", {}).get("quick"),
        "n": summary.get("n_test"),
        "train s": summary.get("train_seconds"),
    }


def _suite_gaps(run_dir: Path, suite: str | None) -> None:
    """The cosine model under quick, standard and the configured suite, each alone, on the
    same points, with the gaps between them (standard runs here, on the same subset)."""
    from advland.evaluation.run import evaluate

    if suite != "autoattack":
        return
    std = evaluate(run_dir, "standard", log=print)
    errs = {"quick": std["suite_errors"]["quick"], "standard": std["suite_errors"]["standard"]}
    from advland.runs.rundir import read_summary

    errs["autoattack"] = read_summary(run_dir)["suite_errors"][suite]
    print(
        f"\ncosine model, each suite alone on the same {std['n_test']} digits: "
        f"quick {errs['quick']:.2f}% <= standard {errs['standard']:.2f}% "
        f"(+{errs['standard'] - errs['quick']:.2f}) <= autoattack {errs['autoattack']:.2f}% "
        f"(+{errs['autoattack'] - errs['standard']:.2f})"
        + ("" if errs["quick"] <= errs["standard"] <= errs["autoattack"] else "  ORDER VIOLATED")
    )
