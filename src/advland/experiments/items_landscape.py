"""Fig. 12 (2-D adversarial loss surfaces along the top-2 Hessian eigenvectors) and Fig. 15
(Bezier-curve mode connectivity between two independently trained models), per ε.

full: the section-4 models of `eps_models` (both tasks); surfaces on a 21×21 grid over
[-1, 1]² with 1,000 training examples; curves of order 2 (MNIST) and 4 (CIFAR-10) as in
appendix C.2.5, trained for 50 epochs (the paper does not give the curve budget).
quick: the MNIST quick models; 9×9 grid over [-0.5, 0.5]² on 256 examples; order-2 curves
for ε ∈ {0, 0.1, 0.2} between seeds 0 and 1, trained for 4 epochs on 2,000 digits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from advland.experiments.eps_models import cifar_eps_runs, mnist_eps_runs
from advland.experiments.jobs import AnalysisJob, TrainJob, analysis_job, set_args, subset_args
from advland.experiments.outputs import config_eps, load_json, outputs_by_eps
from advland.experiments.recipe import Context, Plan, Summary, claim, recipe
from advland.experiments.stats import fmt_series, ordered, trend_claim

SURFACE: dict[str, dict[str, Any]] = {
    "full": {"n1": 21, "n2": 21, "a1": "[-1,1]", "a2": "[-1,1]", "train_n": 1000},
    "quick": {"n1": 9, "n2": 9, "a1": "[-0.5,0.5]", "a2": "[-0.5,0.5]", "train_n": 256},
}
CURVE: dict[str, dict[str, Any]] = {
    "full": {"epochs": 50, "train_n": 0, "test_n": 0},
    "quick": {"epochs": 4, "train_n": 2000, "test_n": 500},
}
QUICK_CURVE_EPS = (0.0, 0.1, 0.2)
TASKS = ("mnist", "cifar")

ByEps = dict[float, dict]  # ε → one saved analysis record
LoadFn = Callable[[Context, str], ByEps]  # (context, task) → its records
# (item folder, task, records) → (figure stem, verdict): draws one task's figure and judges it.
JudgeFn = Callable[[Path, str, ByEps], tuple[str, dict]]


def _surface_job(root: Path, job: TrainJob, scale: str) -> AnalysisJob:
    s = SURFACE[scale]
    sets = {"eps": f"[{job.tag['eps']!r}]", **{k: s[k] for k in ("n1", "n2", "a1", "a2")}}
    args = ("--directions", "eigen", *set_args(sets), *subset_args(s["train_n"]))
    return analysis_job("surface", root, [job], "surface.json", args)


def _surface_runs(scale: str) -> tuple[TrainJob, ...]:
    return mnist_eps_runs(scale) + (cifar_eps_runs(scale) if scale == "full" else ())


def _plan_fig12(scale: str, root: Path) -> Plan:
    runs = _surface_runs(scale)
    jobs = tuple(_surface_job(root, j, scale) for j in runs)
    return Plan(train=runs, analyses=jobs, settings=dict(SURFACE[scale]), seeds=(0,))


def rises(record: dict) -> tuple[float, float]:
    """(local, whole-grid) mean rise of the loss above its value at θ (the grid centre).

    Local = over the 8 grid points next to θ: curvature is a local property, and farther
    out the loss saturates, so the whole-grid mean need not follow the top eigenvalues
    (docs/reproduce.md). The verdict uses the local rise; both are reported."""
    loss = np.asarray(record["loss"][0], dtype=float)
    i, j = loss.shape[0] // 2, loss.shape[1] // 2
    centre = loss[i, j]
    ring = loss[max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
    local = (np.nansum(ring) - centre) / (ring.size - 1) - centre
    return float(local), float(np.nanmean(loss - centre))


def _surface_panel(found: ByEps) -> SimpleNamespace:
    """The saved surfaces of one task (ε → record) as the panel `plot_surface` draws."""
    first = next(iter(found.values()))
    loss = np.stack([np.asarray(r["loss"][0], dtype=float) for r in found.values()])
    error = np.stack([np.asarray(r["robust_error"][0]) for r in found.values()])
    return SimpleNamespace(
        config=SimpleNamespace(a2=first["a2"], directions="eigen"),
        a1=np.asarray(first["a1"]),
        a2=np.asarray(first["a2"]),
        eps=tuple(found),
        loss=loss,
        error=error,
        done=np.ones(loss.shape, dtype=bool),
    )


def _surface_claim(task: str, found: ByEps) -> dict:
    local, grid = zip(*(rises(r) for r in found.values()), strict=True)
    text = f"{task}: the loss rises faster around θ along the top eigenvectors under larger ε"
    evidence = (
        f"mean rise at the 8 grid points next to θ: {fmt_series(list(found), local)}; "
        f"over the whole grid: {fmt_series(list(found), grid)}"
    )
    return claim(text, ordered(list(local), increasing=True), evidence)


def _per_task(ctx: Context, load: LoadFn, judge: JudgeFn, nothing: dict) -> Summary:
    """One figure and one verdict for each task with results (`load`, then `judge`); the
    verdict `nothing` when no task has any."""
    figures, claims = [], []
    for task in TASKS:
        found = load(ctx, task)
        if found:
            figure, verdict = judge(ctx.out, task, found)
            figures.append(figure)
            claims.append(verdict)
    return Summary(figures=figures, claims=claims or [nothing])


def _surface_figure(out: Path, task: str, found: ByEps) -> tuple[str, dict]:
    from advland.reporting.plot_surface import plot_surface

    plot_surface(_surface_panel(found), out / f"surface_{task}")
    return f"surface_{task}", _surface_claim(task, found)


def _summarize_fig12(ctx: Context) -> Summary:
    nothing = claim("surfaces", None, "no surface results")
    return _per_task(ctx, outputs_by_eps, _surface_figure, nothing)


# -------------------------------------------------------------------- Fig. 15


def _curve_pairs(scale: str) -> list[tuple[TrainJob, TrainJob, int]]:
    a, b = mnist_eps_runs(scale, 0), mnist_eps_runs(scale, 1)
    pairs = [(x, y, 2) for x, y in zip(a, b, strict=True)]
    if scale == "full":
        a, b = cifar_eps_runs(scale, 0), cifar_eps_runs(scale, 1)
        pairs += [(x, y, 4) for x, y in zip(a, b, strict=True)]
    else:
        pairs = [p for p in pairs if p[0].tag["eps"] in QUICK_CURVE_EPS]
    return pairs


def _curve_job(root: Path, a: TrainJob, b: TrainJob, order: int, scale: str) -> AnalysisJob:
    c = CURVE[scale]
    args = (
        *set_args({"order": order, "epochs": c["epochs"]}),
        *subset_args(c["train_n"], c["test_n"]),
    )
    return analysis_job("curve", root, [a, b], "curve.json", args)


def _plan_fig15(scale: str, root: Path) -> Plan:
    pairs = _curve_pairs(scale)
    runs = tuple(j for a, b, _ in pairs for j in (a, b))
    jobs = tuple(_curve_job(root, a, b, order, scale) for a, b, order in pairs)
    return Plan(train=runs, analyses=jobs, settings=dict(CURVE[scale]), seeds=(0, 1))


def barrier(record: dict) -> float:
    """Highest training loss along the curve above the worse of its two ends."""
    loss = record["metrics"]["train_loss"]
    return float(max(loss) - max(loss[0], loss[-1]))


def _curves_by_eps(ctx: Context, task: str) -> ByEps:
    """ε → the saved curve of `task`, sorted by ε; curves not computed yet left out."""
    found = {}
    for a in ctx.plan.analyses:
        rec = load_json(ctx.analysis_dir(a) / "curve.json")
        if rec is not None and a.name.startswith(f"curve-{task}-"):
            found[config_eps(rec["config"])] = rec
    return dict(sorted(found.items()))


def _curve_figure(out: Path, task: str, found: ByEps) -> tuple[str, dict]:
    from advland.reporting.plot_curve import plot_curve

    shown = [
        SimpleNamespace(
            config=SimpleNamespace(attack=SimpleNamespace(eps=e)), t=r["t"], metrics=r["metrics"]
        )
        for e, r in found.items()
    ]
    plot_curve(shown, out / f"curve_{task}")
    bars = [barrier(r) for r in found.values()]
    text = f"{task}: the loss barrier along the learned curve grows with ε (minima less connected)"
    return f"curve_{task}", trend_claim(text, "barrier", list(found), bars, True)


def _summarize_fig15(ctx: Context) -> Summary:
    nothing = claim("curves", None, "no curve results")
    return _per_task(ctx, _curves_by_eps, _curve_figure, nothing)


COST_FIG12 = {
    "quick": "≈ 6 min on 2 CPU cores (MNIST only)",
    "full": "≈ 40 GPU-hours of training + 3 GPU-hours",
}
COST_FIG15 = {"quick": "≈ 12 min on 2 CPU cores", "full": "≈ 80 GPU-hours of training + curves"}

FIG12 = recipe("fig12", _plan_fig12, _summarize_fig12, COST_FIG12)
FIG15 = recipe("fig15", _plan_fig15, _summarize_fig15, COST_FIG15)
