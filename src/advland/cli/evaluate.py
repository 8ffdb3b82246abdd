"""`advland evaluate RUN_DIR`: clean and robust error of a run (members and ensemble)."""

from __future__ import annotations

from advland.cli.common import print_table, result_rows


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="robust evaluation of a trained run")
    p.add_argument("run_dir")
    p.add_argument(
        "--suite",
        default="standard",
        help="quick (PGD-20) | standard (PGD-50x5, APGD-CE, APGD-DLR)",
    )
    p.add_argument("--checkpoint", default="latest", help="latest | best")
    p.add_argument("--limit", type=int, help="evaluate on the first N test points only")
    p.add_argument("--device", help="auto | cpu | cuda")
    p.set_defaults(func=run)


def run(args) -> int:
    from advland.errors import UserError
    from advland.evaluation.run import evaluate

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    res = evaluate(
        args.run_dir, args.suite, checkpoint=args.checkpoint, limit=args.limit, device=args.device
    )
    rows = result_rows(res)
    print(
        f"{args.run_dir}: test split, ε={res['eps']:g} ({res['norm']}), {res['attack']}, n={res['n_test']}"
    )
    print_table(rows)
    if res["failed_checks"]:
        print(f"SANITY CHECKS FAILED: {', '.join(res['failed_checks'])} (see summary.json)")
        return 1
    return 0
