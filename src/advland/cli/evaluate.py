"""`advland evaluate RUN [RUN...]`: clean and robust error of runs, at the training budget
(updates summary.json) or at a list of budgets (`--eps`: a robustness curve per run)."""

from __future__ import annotations

from advland.cli.common import print_table, result_rows


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="robust evaluation of trained runs")
    p.add_argument("run_dirs", nargs="+", metavar="RUN")
    p.add_argument(
        "--suite",
        default="standard",
        help="quick (PGD-20) | standard (PGD-50x5, APGD-CE, APGD-DLR) | autoattack "
        "(APGD-CE, APGD-T, FAB-T, Square: AutoAttack's standard version)",
    )
    p.add_argument(
        "--eps", help="comma-separated budgets, e.g. 0.1,0.2,0.3 (default: the run's own ε)"
    )
    p.add_argument("--norm", help="linf | l2 (default: the run's own norm)")
    p.add_argument(
        "--checkpoint", default=None, help="best | latest | snapshot-K | ensemble (default latest)"
    )
    p.add_argument("--limit", type=int, help="evaluate a seeded subset of N test points")
    p.add_argument("--table", action="store_true", help="one table across all runs")
    p.add_argument("--device", help="auto | cpu | cuda")
    p.set_defaults(func=run)


def run(args) -> int:
    from advland.errors import UserError
    from advland.evaluation.api import check_suite
    from advland.evaluation.curve import parse_eps

    check_suite(args.suite)
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    if args.norm is not None and args.norm not in ("linf", "l2"):
        raise UserError(f"--norm '{args.norm}' is not one of linf, l2")
    eps = parse_eps(args.eps) if args.eps is not None else None
    _check_runs(args)  # every run and checkpoint exists before anything is written
    if eps is None and args.norm is None and args.checkpoint in (None, "latest"):
        return _at_training_budget(args)
    rows: list[dict] = []
    failed: list[str] = []
    for run_dir in args.run_dirs:
        rows += _curve(run_dir, args, eps, failed)
    print_table(rows)
    if failed:
        print(f"SANITY CHECKS FAILED: {', '.join(sorted(set(failed)))} (see evaluations/)")
        return 1
    return 0


def _check_runs(args) -> None:
    """Every run, its checkpoint and its model's output shape, before anything is written."""
    from advland.evaluation.api import check_run_model

    for run_dir in args.run_dirs:
        check_run_model(run_dir, args.checkpoint or "latest", device=args.device)


def _curve(run_dir: str, args, eps: list[float] | None, failed: list[str]) -> list[dict]:
    from pathlib import Path

    from advland.evaluation.curve import evaluate_curve
    from advland.runs.rundir import load_run_config

    cfg = load_run_config(Path(run_dir))
    res = evaluate_curve(
        Path(run_dir),
        eps if eps is not None else [cfg.attack.eps],
        norm=args.norm or cfg.attack.norm,
        suite=args.suite,
        checkpoint=args.checkpoint or "latest",
        limit=args.limit,
        device=args.device,
        log=print,
    )
    failed += res["failed_checks"]
    return [
        {
            "run": run_dir,
            "checkpoint": res["checkpoint"],
            "ε": r["eps"],
            "norm": r["norm"],
            "clean error %": r["clean_error"],
            "robust error %": r["robust_error"],
            "n": r["n_examples"],
            "suite": r["suite"],
        }
        for r in res["records"]
    ]


def _at_training_budget(args) -> int:
    from advland.evaluation.run import evaluate

    failed, table = [], []
    for run_dir in args.run_dirs:
        res = evaluate(run_dir, args.suite, limit=args.limit, device=args.device)
        rows = result_rows(res)
        if args.table:
            table += [{"run": run_dir, **r, "n": res["n_test"], "suite": args.suite} for r in rows]
        else:
            print(
                f"{run_dir}: test split, ε={res['eps']:g} ({res['norm']}), {res['attack']}, "
                f"n={res['n_test']}"
            )
            print_table(rows)
        failed += res["failed_checks"]
    if table:
        print_table(table)
    if failed:
        print(f"SANITY CHECKS FAILED: {', '.join(sorted(set(failed)))} (see summary.json)")
        return 1
    return 0
