"""`advland train`: train from a YAML recipe, or resume a run directory.

Under torchrun (`torchrun --nproc-per-node N -m advland train ...`) the processes form one
data-parallel group (docs/scaling.md). A group that torchrun restarts after a failure
(`--max-restarts`) resumes its run from the last checkpoint: with TORCHELASTIC_RESTART_COUNT
> 0 and a checkpoint in the run directory, `train --config ... --out RUN` acts as
`train --resume RUN`. Without --out a torchrun job trains into runs/<name> exactly (not
made unique), so that a restarted group finds it again."""

from __future__ import annotations

from pathlib import Path

from advland.cli.common import (
    add_set_argument,
    fresh_dir,
    print_table,
    result_rows,
    sigterm_as_interrupt,
)
from advland.config import build_config, dump_yaml
from advland.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="PGD adversarial training (with ε schedules and PAS)")
    p.add_argument(
        "--config", help="YAML recipe, or a built-in config name, e.g. mnist-lenet-cosine"
    )
    add_set_argument(p)
    p.add_argument("--out", help="run directory (default: runs/<name>, made unique)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run exactly")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the config, load the data, build the model; write nothing",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from advland.training import loop

    sigterm_as_interrupt()
    if args.resume:
        if args.config or args.overrides or args.out:
            raise UserError("--resume takes the run's own config; drop --config/--set/--out")
        return _report(loop.resume(args.resume), Path(args.resume))
    cfg = build_config(args.config, args.overrides)
    if args.dry_run:
        return _dry_run(cfg)
    out = Path(args.out) if args.out else _default_out(cfg.name)
    if _restarted_with_checkpoint(out):
        return _report(loop.resume(out), out)
    return _report(loop.train(cfg, out), out)


def _restarted_with_checkpoint(out: Path) -> bool:
    """True in a group torchrun restarted whose run already has a checkpoint."""
    from advland import distributed
    from advland.runs.checkpoint import LATEST, PREVIOUS
    from advland.runs.rundir import checkpoint_dir

    if not distributed.restarted():
        return False
    ck = checkpoint_dir(out)
    return (ck / LATEST).is_file() or (ck / PREVIOUS).is_file()


def _default_out(name: str) -> Path:
    # The config validates `name` as a plain folder name; check again where it becomes a path.
    from advland import distributed

    runs = Path("runs").resolve()
    # every rank of a torchrun job, and a restarted group, must name the same folder
    out = Path("runs") / name if distributed.launched() else fresh_dir(Path("runs") / name)
    if out.resolve().parent != runs:
        raise UserError(f"name={name!r} would write outside runs/; use a plain folder name")
    return out


def _dry_run(cfg) -> int:
    from advland.data import load_splits
    from advland.device import pick_device
    from advland.runs.model import build_run_model
    from advland.training.setup import eps_schedule, lr_schedule

    device = pick_device(cfg.device)
    splits = load_splits(cfg.data)
    model = build_run_model(cfg, splits, device)
    n = sum(p.numel() for p in model.parameters())
    print(dump_yaml(cfg))
    print(
        f"data: {splits.name} train {len(splits.train.y)} / val {len(splits.val.y)} / test "
        f"{len(splits.test.y)}, shape {splits.shape}, augment {splits.augment}"
    )
    print(f"model: {cfg.model.name} w={cfg.model.width}, {n:,} parameters, device {device}")
    eps, lr = eps_schedule(cfg), lr_schedule(cfg)
    E = cfg.train.epochs
    marks = sorted({0, E // 4, E // 2, (3 * E) // 4, E - 1})
    print_table(
        [{"epoch": e, "eps": eps(float(e)), "lr": lr(float(e))} for e in marks], floatfmt=".5g"
    )
    print("dry run OK: nothing written")
    return 0


def _report(summary: dict, out: Path) -> int:
    from advland import distributed

    status = summary.get("status")
    if not distributed.is_main():
        return 0 if status == "completed" else 1
    rows = result_rows(summary)
    if status == "completed" or status == "sanity-failed":
        print(
            f"\n{out}: {status}; test split, ε={summary['eps']:g} ({summary['norm']}), {summary['attack']}"
        )
        print_table(rows)
    else:
        print(f"\n{out}: {status}: {summary.get('cause', '')}")
    return 0 if status == "completed" else 1
