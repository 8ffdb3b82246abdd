"""`advland export RUN --format safetensors|torch`: weights plus a JSON model card."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a run's weights (safetensors or torch) and model card")
    p.add_argument("run", help="run directory made by 'advland train' or advland.fit")
    p.add_argument("--format", default="safetensors", choices=("safetensors", "torch"))
    p.add_argument(
        "--checkpoint", default="latest", help="latest (default), best, init or snapshot-K"
    )
    p.add_argument("--out", help="output folder (default RUN/export)")
    p.set_defaults(func=run)


def run(args) -> int:
    from advland.runs.export import FORMATS, export_run

    out = export_run(args.run, args.format, checkpoint=args.checkpoint, out=args.out)
    print(f"wrote {out / FORMATS[args.format]} and {out / 'model.json'}")
    return 0
