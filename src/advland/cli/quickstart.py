"""`advland quickstart`: the README's main job — the paper's two headline effects, small.

Trains LeNet w=4 on the embedded mnist-5k digits (no download) three ways per seed, with
the paper's MNIST recipe (Adam, constant learning rate, ε_max = 1.5 × target):

- `constant`: ε = 0.3 from the first step;
- `cosine`: the cosine ε warmup of eq. 5 over the whole run;
- `cosine-pas`: periodic adversarial scheduling — three periods ending at 1/2, 3/4 and all
  of the run (the proportions of the paper's CIFAR-10 recipe, resets at 100 and 150 of 200
  epochs), each replaying the ε warmup (and the learning-rate schedule, when one is set:
  `--set lr_schedule.kind=multistep` divides it by 10 at 1/2 and 3/4 of each period, the
  paper's periodic learning-rate resets); the period ends are ensembled.

It then prints clean and robust error (the strongest suite, on a stated subset) and the
paper's comparisons, with a paired noise rule when several seeds ran
(`advland.cli.quickstart_report`). Every run is an ordinary run directory.
"""

from __future__ import annotations

from pathlib import Path

from advland.cli.common import add_set_argument, fresh_dir, print_table
from advland.config import build_config
from advland.fileio import atomic_write_json

# The reported robust error: AutoAttack on a seeded subset of the test digits (its CPU cost
# on the 2-core reference machine is what sets the subset size; docs/evaluation.md).
EVAL = ["eval.suite=autoattack", "eval.limit=100"]

# name -> overrides; {p1}, {p2}, {epochs}: the period boundaries.
VARIANTS = {
    "constant": [],
    "cosine": ["eps_schedule.kind=cosine"],
    "cosine-pas": ["eps_schedule.kind=cosine", "train.periods=[0,{p1},{p2},{epochs}]"],
}
MIN_EPOCHS = 4  # three periods need three distinct boundaries


def add_parser(sub) -> None:
    p = sub.add_parser(
        "quickstart", help="constant ε vs ε warmup vs PAS on mnist-5k (CPU, minutes)"
    )
    p.add_argument("--out", help="folder for the run directories (default runs/quickstart)")
    p.add_argument(
        "--epochs", type=int, default=None, help="epochs per run (default from the recipe)"
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="seeds per schedule (train.seed, +1, …): with 2 or more each comparison gets "
        "the noise rule",
    )
    add_set_argument(p, "a value of configs/quickstart.yaml")
    p.set_defaults(func=run)


def recipe_path() -> Path:
    """The built-in quickstart recipe (shipped inside the package)."""
    from advland.config import config_path

    return config_path("quickstart")


def boundaries(epochs: int) -> dict[str, int]:
    """PAS period ends and learning-rate milestones (used by a multistep schedule only):
    1/2 and 3/4 of the run."""
    return {"p1": epochs // 2, "p2": (3 * epochs) // 4, "epochs": epochs}


def variant_overrides(name: str, epochs: int, seed: int) -> list[str]:
    b = boundaries(epochs)
    sets = [s.format(**b) for s in VARIANTS[name]]
    return [
        f"train.epochs={epochs}",
        f"train.seed={seed}",
        f"lr_schedule.milestones=[{b['p1']},{b['p2']}]",
        f"name={name}",
        *sets,
    ]


def run(args) -> int:
    from advland.errors import UserError
    from advland.training import loop

    if args.epochs is not None and args.epochs < MIN_EPOCHS:
        raise UserError(
            f"--epochs must be >= {MIN_EPOCHS} (PAS needs three periods), got {args.epochs}"
        )
    if args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    base = build_config(recipe_path(), [*EVAL, *args.overrides])
    epochs = args.epochs or base.train.epochs
    first = base.train.seed  # `--set train.seed=K` starts the seeds at K
    configs = {
        (name, seed): build_config(
            recipe_path(), [*EVAL, *args.overrides, *variant_overrides(name, epochs, seed)]
        )
        for seed in range(first, first + args.seeds)
        for name in VARIANTS
    }  # every config is validated before the first run starts
    out = Path(args.out) if args.out else fresh_dir(Path("runs") / "quickstart")
    summaries: dict[tuple[str, int], dict] = {}
    for i, ((name, seed), cfg) in enumerate(configs.items(), 1):
        run_dir = out / f"seed{seed}" / name
        print(f"\n=== {name}, seed {seed} ({i}/{len(configs)}): {run_dir} ===")
        summaries[name, seed] = loop.train(cfg, run_dir)
    report(out, summaries, epochs, args.seeds)
    return 0


def report(out: Path, summaries: dict[tuple[str, int], dict], epochs: int, seeds: int) -> None:
    from advland.cli.quickstart_report import comparisons, per_seed_rows, table_rows

    rows = per_seed_rows(summaries, epochs)
    first = next(iter(summaries.values()))
    suite = first.get("suite")
    both = "" if suite == "quick" else " (worst case with PGD-20); quick = PGD-20 alone"
    print(
        f"\nmnist-5k test split, LeNet w=4, ε=0.3 (linf), {epochs} epochs, {seeds} seed(s); "
        f"robust = {suite} on a seeded subset of n={first.get('n_test')} test digits{both}"
    )
    print_table(table_rows(rows, seeds), numparse=seeds == 1)
    verdicts = comparisons(rows)
    for v in verdicts:
        print(v["line"])
    atomic_write_json(out / "comparison.json", {"rows": rows, "comparisons": verdicts})
    seed = min(s for _, s in summaries)
    _suite_gaps(out / f"seed{seed}" / "cosine", first.get("suite"), seed)
    print(f"\nrun directories and comparison.json under {out}")


def _suite_gaps(run_dir: Path, suite: str | None, seed: int) -> None:
    """The cosine model under quick, standard and the configured suite, each alone, on the
    same points, with the gaps between them (standard runs here, on the same subset)."""
    from advland.evaluation.run import evaluate
    from advland.runs.rundir import read_summary

    if suite != "autoattack":
        return
    std = evaluate(run_dir, "standard", log=print)
    errs = {"quick": std["suite_errors"]["quick"], "standard": std["suite_errors"]["standard"]}
    errs["autoattack"] = read_summary(run_dir)["suite_errors"][suite]
    print(
        f"\ncosine model (seed {seed}), each suite alone on the same {std['n_test']} digits: "
        f"quick {errs['quick']:.2f}% <= standard {errs['standard']:.2f}% "
        f"(+{errs['standard'] - errs['quick']:.2f}) <= autoattack {errs['autoattack']:.2f}% "
        f"(+{errs['autoattack'] - errs['standard']:.2f})"
        + ("" if errs["quick"] <= errs["standard"] <= errs["autoattack"] else "  ORDER VIOLATED")
    )
