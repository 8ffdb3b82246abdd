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
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="runs trained at once, one process each (default: one per usable core)",
    )
    p.add_argument(
        "--progress-every",
        type=float,
        default=30.0,
        help="seconds between progress lines while runs train (default 30)",
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
    from advland.device import usable_cores
    from advland.errors import UserError
    from advland.experiments.jobs import run_dir_of
    from advland.experiments.sweep import run_sweep
    from advland.experiments.watch import Watch
    from advland.runs.rundir import read_summary

    if args.epochs is not None and args.epochs < MIN_EPOCHS:
        raise UserError(
            f"--epochs must be >= {MIN_EPOCHS} (PAS needs three periods), got {args.epochs}"
        )
    if args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    base = build_config(recipe_path(), [*EVAL, *args.overrides])
    epochs = args.epochs or base.train.epochs
    jobs = quickstart_jobs(
        args.overrides, epochs, range(base.train.seed, base.train.seed + args.seeds)
    )
    out = Path(args.out) if args.out else fresh_dir(Path("runs") / "quickstart")
    workers = args.workers or min(usable_cores(), len(jobs))
    print(
        f"quickstart: {len(jobs)} runs ({', '.join(VARIANTS)} × {args.seeds} seed(s)), "
        f"{workers} at once, in {out / 'runs'} (each run's log in {out / 'logs'})"
    )
    keys = {job.key: epochs for job in jobs.values()}
    with Watch(out, list(jobs.values()), keys, print, every=args.progress_every):
        run_sweep(out, list(jobs.values()), [], workers, print)
    shown = sorted(jobs, key=lambda k: (k[1], list(VARIANTS).index(k[0])))  # table order
    summaries = {k: read_summary(run_dir_of(out, jobs[k])) for k in shown}
    broken = [job.key for k, job in jobs.items() if not summaries[k].get("status")]
    if broken:
        print(f"\nrun(s) failed: {', '.join(broken)}; see {out / 'logs'}; rerun with --out {out}")
        return 1
    cfg = build_config(recipe_path(), [*EVAL, *args.overrides, f"train.epochs={epochs}"])
    report(out, summaries, args.seeds, cfg, run_dir_of(out, jobs["cosine", base.train.seed]))
    return 0


def quickstart_jobs(overrides: list[str], epochs: int, seeds: range) -> dict:
    """(variant, seed) -> TrainJob, each config validated before the first run starts. PAS
    first within a seed: it is the longest job (three snapshots and their ensemble to
    evaluate), so two workers finish together."""
    from advland.experiments.jobs import TrainJob

    jobs = {}
    for seed in seeds:
        for name in sorted(VARIANTS, key=lambda n: n != "cosine-pas"):
            sets = [*EVAL, *overrides, *variant_overrides(name, epochs, seed)]
            build_config(recipe_path(), sets)
            jobs[name, seed] = TrainJob(
                "quickstart.yaml", tuple(sets), (("model", name), ("seed", seed))
            )
    return jobs


def report(
    out: Path, summaries: dict[tuple[str, int], dict], seeds: int, cfg, cosine: Path
) -> None:
    """The table, the paper's comparisons (comparison.json) and the cosine model's suite gaps;
    `cfg`: the quickstart's config with the user's overrides, for the header."""
    from advland.cli.quickstart_report import comparisons, per_seed_rows, table_rows

    epochs = cfg.train.epochs
    rows = per_seed_rows(summaries, epochs)
    first = next(iter(summaries.values()))
    suite = first.get("suite")
    both = "" if suite == "quick" else " (worst case with PGD-20); quick = PGD-20 alone"
    print(
        f"\n{cfg.data.name} test split, {cfg.model.name} w={cfg.model.width}, "
        f"ε={cfg.attack.eps:g} ({cfg.attack.norm}), {epochs} epochs, {seeds} seed(s); "
        f"robust = {suite} on a seeded subset of n={first.get('n_test')} test digits{both}"
    )
    print_table(table_rows(rows, seeds), numparse=seeds == 1)
    verdicts = comparisons(rows)
    for v in verdicts:
        print(v["line"])
    atomic_write_json(out / "comparison.json", {"rows": rows, "comparisons": verdicts})
    _suite_gaps(cosine, first.get("suite"), min(s for _, s in summaries))
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
