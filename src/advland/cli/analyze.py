"""`advland analyze TOOL ...`: the loss-landscape tools on trained runs.

Each tool's settings are the fields of its frozen config dataclass. Its `attack` section
defaults to the analysed run's own training attack, and any field can be overridden
with `--set field=value` (`--set attack.eps=0.1`). Results (JSON/NPZ + figures) go to
`--out` (default: RUN/analysis/TOOL).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from advland.attacks.spec import FLAT_ATTACK_FIELDS
from advland.cli.common import add_set_argument, print_table
from advland.config import apply_overrides, from_dict
from advland.errors import UserError
from advland.validation import to_dict

TOOLS = ("dynamics", "hessian", "similarity", "surface", "curve", "theory")


def add_parser(sub) -> None:
    p = sub.add_parser("analyze", help="loss-landscape analysis of trained runs")
    tools = p.add_subparsers(dest="tool", metavar="TOOL", required=True)
    specs = {
        "dynamics": (
            "gradient norm, robust error, ‖θ−θ0‖ per minibatch; learning curves (Fig. 1/8/11)",
            "+",
        ),
        "hessian": ("top-k Hessian eigenvalues, raw and normalised (Fig. 2/9)", "+"),
        "similarity": (
            "perturbation cosine similarity at θ±a·v, eigenvector vs random (Fig. 3/10)",
            1,
        ),
        "surface": (
            "adversarial loss surface along eigenvectors or random directions (Fig. 12)",
            1,
        ),
        "curve": ("Bezier-curve mode connectivity between two runs (Fig. 15)", 2),
        "theory": ("the linear-model checks of section 3 (Theorems 1-3, Fig. 5)", 0),
    }
    for name, (help_text, nargs) in specs.items():
        t = tools.add_parser(name, help=help_text)
        if nargs:
            t.add_argument("runs", nargs=nargs, metavar="RUN_DIR")
        t.add_argument("--out", help="output folder (default RUN/analysis/TOOL)")
        add_set_argument(t, "a field of the tool's config")
        if name in ("hessian", "similarity", "surface", "curve"):
            t.add_argument("--checkpoint", default="latest", help="latest | best")
            t.add_argument("--device", help="auto | cpu | cuda")
        if name in ("similarity", "surface", "curve"):
            t.add_argument(
                "--train-n", type=int, default=1000, help="training examples used (0 = all)"
            )
            t.add_argument("--test-n", type=int, default=1000, help="test examples used (0 = all)")
        if name == "surface":
            t.add_argument("--directions", default="eigen", help="eigen | filter-random")
        t.set_defaults(func=globals()[f"run_{name}"])


def tool_config(cls, defaults: dict, overrides: list[str]):
    """Build a tool config: run-derived defaults, then the user's --set overrides.

    A config with an `attack` section takes the attack's settings as `attack.eps=…`
    (defaults given flat, like `step_size`, go there too); the flat `--set eps=…` still
    works, with a deprecation note on stderr."""
    names = {f.name for f in dataclasses.fields(cls)}
    base = _fit_defaults(names, defaults)
    overrides, renamed = _nest_attack_keys(names, overrides)
    cfg = from_dict(cls, apply_overrides(base, overrides))
    for old in renamed:  # after the build: a bad value's error stays the one line printed
        old_key_note(old, f"attack.{old}")
    return cfg


def _fit_defaults(names: set[str], defaults: dict) -> dict:
    """The defaults `cls` has fields for; attack settings nested or flat, as it takes them."""
    base = {k: v for k, v in defaults.items() if k in names and k != "attack"}
    attack = dict(defaults.get("attack") or {})
    flat = {k: v for k, v in defaults.items() if k in FLAT_ATTACK_FIELDS and k not in names}
    if "attack" in names:
        base["attack"] = {**attack, **flat}
    else:
        base.update({k: v for k, v in attack.items() if k in names and k not in base})
    return base


def _nest_attack_keys(names: set[str], overrides: list[str]) -> tuple[list[str], list[str]]:
    """Overrides with the flat attack keys moved under `attack.`, and those keys."""
    if "attack" not in names:
        return list(overrides), []
    out, renamed = [], []
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if sep and key in FLAT_ATTACK_FIELDS and key not in names:
            renamed.append(key)
            item = f"attack.{key}={value}"
        out.append(item)
    return out, renamed


def old_key_note(old: str, new: str) -> None:
    """The stderr note for a deprecated `--set` key."""
    print(
        f"advland: note: --set {old}=… is deprecated, use --set {new}=… "
        "(the old name will be removed in the next release)",
        file=sys.stderr,
    )


def _attack_defaults(run) -> dict:
    """The analysed run's own training attack, every setting."""
    return {"attack": to_dict(run.cfg.attack)}


def _top_eigenvectors(run, k: int) -> list:
    """Top-k Hessian eigenvectors of the run's adversarial loss at its own training attack."""
    from advland.analysis.hessian.spectrum import SpectrumConfig, top_eigenvectors

    spec = tool_config(SpectrumConfig, _attack_defaults(run), [])
    return top_eigenvectors(run.model, run.splits.train.x, run.splits.train.y, spec, k=k)


def _out(args, run_path: Path | None, tool: str) -> Path:
    if args.out:
        return Path(args.out)
    if run_path is None:
        raise UserError(f"'advland analyze {tool}' needs --out DIR")
    return run_path / "analysis" / tool


def run_dynamics(args) -> int:
    from advland.analysis.dynamics import DynamicsConfig, summary_rows, training_dynamics

    cfg = tool_config(DynamicsConfig, {}, args.overrides)
    out = _out(args, Path(args.runs[0]) if len(args.runs) == 1 else None, "dynamics")
    result = training_dynamics(args.runs, cfg, out)
    print_table(summary_rows(result), floatfmt=".4g")
    print(f"written to {out}")
    return 0


def run_hessian(args) -> int:
    from advland.analysis.hessian.spectrum import SpectrumConfig, hessian_spectrum
    from advland.reporting.plot_spectrum import plot_spectrum
    from advland.runs.load import load_run

    results = {}
    out = _out(args, Path(args.runs[0]) if len(args.runs) == 1 else None, "hessian")
    for run_dir in args.runs:
        run = load_run(run_dir, args.checkpoint, args.device)
        cfg = tool_config(SpectrumConfig, _attack_defaults(run), args.overrides)
        dest = out if len(args.runs) == 1 else out / run.path.name
        split = run.splits.train
        results[run.label] = hessian_spectrum(
            run.model,
            split.x,
            split.y,
            cfg,
            model_factory=run.fresh_model,
            out_dir=dest,
        )
    if len(results) > 1:
        plot_spectrum(results, out / "spectrum_overlay.png")
    print(f"written to {out}")
    return 0


def _landscape_defaults(run, **attack) -> dict:
    """The run's own training attack for a landscape tool: in eval mode (these tools keep
    BatchNorm statistics untouched), with `attack` changes."""
    return {"attack": {**_attack_defaults(run)["attack"], "model_mode": "eval", **attack}}


def run_similarity(args) -> int:
    from advland.analysis.landscape.similarity import SimilarityConfig, perturbation_similarity
    from advland.analysis.runner import Job
    from advland.runs.load import load_run, subset

    run = load_run(args.runs[0], args.checkpoint, args.device)
    out = _out(args, run.path, "similarity")
    cfg = tool_config(SimilarityConfig, _landscape_defaults(run), args.overrides)
    xtr, ytr, itr = subset(run.splits.train, args.train_n, cfg.seed, run.device)
    xte, yte, ite = subset(run.splits.test, args.test_n, cfg.seed, run.device)
    v = _top_eigenvectors(run, k=1)[0]
    indices = {"train": itr, "test": ite}
    results = []
    for direction, vec in (("top-eigenvector", v), ("random", None)):
        c = dataclasses.replace(cfg, direction=direction)
        dest = out / direction
        results.append(
            perturbation_similarity(
                run.model, vec, (xtr, ytr), (xte, yte), c, out_dir=dest, indices=indices
            )
        )
    job = Job("similarity", out)
    job.write_json("similarity.json", {r.config.direction: r.to_dict() for r in results})
    plot = "advland.reporting.plot_similarity:plot_similarity"
    job.figure(plot, results, job.path("similarity_figure"))
    print(f"written to {out}")
    return 0


def run_surface(args) -> int:
    from advland.analysis.landscape.surface import SurfaceConfig, loss_surface
    from advland.runs.load import load_run, subset

    run = load_run(args.runs[0], args.checkpoint, args.device)
    out = _out(args, run.path, "surface")
    # budgets: 0 and the run's ε; each with the step step_ratio·ε unless set
    defaults = {**_landscape_defaults(run, step_size=None), "directions": args.directions}
    cfg = tool_config(SurfaceConfig, defaults, args.overrides)
    x, y, idx = subset(run.splits.train, args.train_n, cfg.seed, run.device)
    dirs = _top_eigenvectors(run, k=2) if cfg.directions == "eigen" else None
    loss_surface(run.model, (x, y), cfg, directions=dirs, out_dir=out, indices=idx)
    print(f"written to {out}")
    return 0


def run_curve(args) -> int:
    from advland.analysis.landscape.curve_eval import evaluate_curve
    from advland.analysis.landscape.curves import CurveConfig, train_curve
    from advland.runs.load import load_run, subset

    a = load_run(args.runs[0], args.checkpoint, args.device)
    b = load_run(args.runs[1], args.checkpoint, args.device)
    if (a.cfg.model, a.cfg.data.name) != (b.cfg.model, b.cfg.data.name):
        raise UserError("both runs must use the same model, width and dataset to be connected")
    out = _out(args, None, "curve") if args.out else a.path / "analysis" / f"curve-{b.path.name}"
    cfg = tool_config(CurveConfig, _landscape_defaults(a), args.overrides)
    train = subset(a.splits.train, args.train_n, cfg.seed, a.device)
    test = subset(a.splits.test, args.test_n, cfg.seed, a.device)
    curve = train_curve(a.model, b.model, train[:2], cfg, checkpoint=out / "curve-train.pt")
    indices = {"train": train[2], "test": test[2]}
    evaluate_curve(curve, train[:2], test[:2], cfg, out_dir=out, indices=indices)  # saves too
    print(f"written to {out}")
    return 0


def run_theory(args) -> int:
    from advland.analysis.theory.checks import run_theory as theory
    from advland.analysis.theory.config import theory_config

    # the notes for old flat keys come only once the config is valid (one error line else)
    cfg = theory_config(apply_overrides({}, args.overrides), on_old_key=old_key_note)
    out = _out(args, None, "theory")
    record = theory(cfg, out)
    failed = [c["name"] for c in record["checks"] if not c["passed"]]
    print(f"written to {out}")
    if failed:
        print(f"CHECKS FAILED: {', '.join(failed)}")
        return 1
    return 0
