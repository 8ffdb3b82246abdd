"""`advland reproduce ITEM`: regenerate one of the paper's figures or tables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from advland.cli.common import add_set_argument, print_table, sigterm_as_interrupt
from advland.errors import UserError

if TYPE_CHECKING:
    from advland.experiments.executors import ExecutorOptions
    from advland.experiments.recipe import Recipe


def add_parser(sub) -> None:
    p = sub.add_parser("reproduce", help="reproduce a figure or table of the paper (sweeps)")
    p.add_argument("item", nargs="?", help="fig1 … fig15, table1, theory (see --list)")
    p.add_argument("--scale", default="quick", help="quick (2-core CPU) | full (paper, GPU)")
    p.add_argument("--out", default="reproduce", help="root folder shared by all items")
    p.add_argument(
        "--workers", type=int, help="local: jobs run at once, one GPU each if several (default 2)"
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TAG=VALUE",
        help="run only the runs with this tag, e.g. --only task=mnist-lenet (repeatable)",
    )
    add_set_argument(p)
    p.add_argument("--list", action="store_true", help="list the items and their cost")
    p.add_argument(
        "--dry-run", action="store_true", help="validate every run's config; print the commands"
    )
    _add_executor_arguments(p)
    p.set_defaults(func=run)


def _add_executor_arguments(p) -> None:
    g = p.add_argument_group("where the jobs run (docs/scaling.md)")
    g.add_argument(
        "--executor", default="local", metavar="NAME", help="local (default) | ray | slurm"
    )
    g.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="ray: address of a running cluster (default: start Ray here)",
    )
    g.add_argument(
        "--gpus-per-job", type=float, metavar="N", help="ray, slurm: GPUs per job (default 0)"
    )
    g.add_argument(
        "--cpus-per-job",
        type=int,
        metavar="N",
        help="ray, slurm: CPUs (threads) per job (default 1)",
    )
    g.add_argument(
        "--partition", metavar="NAME", help="slurm: partition (default: the cluster's default)"
    )
    g.add_argument(
        "--time",
        type=int,
        metavar="MIN",
        help="slurm: minutes per job; a job past it is requeued and resumes (default 240)",
    )
    g.add_argument(
        "--array-size",
        type=int,
        metavar="N",
        help="slurm: jobs of the array running at once (default: all)",
    )
    g.add_argument(
        "--slurm-folder",
        metavar="DIR",
        help="slurm: folder for submitit's job files and logs (default OUT/slurm)",
    )


def executor_options(args) -> ExecutorOptions:
    """The executor options given on the command line, checked (one-line error, exit 2)."""
    from advland.experiments.executors import OPTIONS, ExecutorOptions, check_options

    names = {o for taken in OPTIONS.values() for o in taken}
    opts = ExecutorOptions(name=args.executor, **{n: getattr(args, n) for n in names})
    check_options(opts)
    return opts


def run(args) -> int:
    from advland.experiments.registry import RECIPES, get_recipe
    from advland.experiments.runner import check_scale, dry_run, parse_only, reproduce

    if args.list:
        print_table([_list_row(r) for r in RECIPES.values()])
        return 0
    if not args.item:
        raise UserError("name an item to reproduce (e.g. 'advland reproduce fig4'), or --list")
    opts = executor_options(args)
    recipe = get_recipe(args.item)
    check_scale(args.scale)
    root, only = Path(args.out), parse_only(args.only)
    if args.dry_run:
        lines = dry_run(recipe, args.scale, root, only, tuple(args.overrides))
        print("\n".join(lines))
        print(
            f"dry run OK: {recipe.name} at scale {args.scale}, {len(lines)} jobs, nothing written"
        )
        return 0
    sigterm_as_interrupt()
    result = reproduce(
        recipe,
        args.scale,
        root,
        args.workers or 2,
        only,
        overrides=tuple(args.overrides),
        executor=opts,
    )
    _print_result(result, root)
    return 0 if not result["failed_jobs"] else 1


def _list_row(recipe: Recipe) -> dict[str, str]:
    seeds = {s: recipe.plan(s, Path("reproduce")).seeds for s in ("quick", "full")}
    return {
        "item": recipe.name,
        "seeds (quick/full)": f"{len(seeds['quick'])}/{len(seeds['full'])}",
        "rule": f"v{recipe.rule_version}",
        "config": f"v{recipe.config_version}",
        "verdicts": ", ".join(recipe.families),
        "quick": recipe.cost["quick"],
        "full": recipe.cost["full"],
        "what": recipe.title,
    }


def _print_result(result: dict, root: Path) -> None:
    print(f"\n{result['item']} ({result['scale']}): {result['title']}")
    for table in result["tables"]:
        rows = [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]
        print_table(rows, numparse=False)  # cells are formatted by the recipe
    for c in result["claims"]:
        print(f"  [{c['verdict']}] {c['claim']} — {c['evidence']}")
        for e in c.get("earlier", []):
            print(f"      rule v{e['rule_version']} ({e['rule']}): {e['verdict']}")
    runs = result["runs"]
    print(f"runs: {runs}; wall {result['wall_s']:.0f}s; written to {root / result['item']}")
