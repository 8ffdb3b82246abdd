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
    base = build_config(recipe_path(), args.overrides)
    epochs = args.epochs or base.train.epochs
    out = Path(args.out) if args.out else fresh_dir(Path("runs") / "quickstart")
    rows = []
    for name, extra in VARIANTS.items():
        sets = [s.format(half=epochs // 2, epochs=epochs) for s in extra]
        cfg = build_config(
            recipe_path(), [*args.overrides, f"train.epochs={epochs}", f"name={name}", *sets]
        )
        print(f"\n=== {name}: {out / name} ===")
        s = loop.train(cfg, out / name)
        rows.append(_row(name, s, s))
        if "ensemble" in s:
            rows.append(_row(f"{name} (ensemble)", s, s["ensemble"]))
    atomic_write_json(out / "comparison.json", rows)
    print(
        f"\nmnist-5k test split (1,000 digits), LeNet w=4, ε=0.3 (linf), {epochs} epochs; robust = PGD-20"
    )
    print_table(rows)
    print(f"\nrun directories and comparison.json under {out}")
    return 0


def _row(name: str, summary: dict, res: dict) -> dict:
    return {
        "schedule": name,
        "status": summary["status"],
        "clean error %": res.get("clean_error"),
        "robust error %": res.get("robust_error"),
        "train s": summary.get("train_seconds"),
    }
