"""Fig. 12 (2-D adversarial loss surfaces along the top-2 Hessian eigenvectors) and Fig. 15
(Bezier-curve mode connectivity between two independently trained models), per ε.

full: the section-4 models of `eps_models` (both tasks); surfaces on a 21×21 grid over
[-1, 1]² with 1,000 training examples; curves of order 2 (MNIST) and 4 (CIFAR-10) as in
appendix C.2.5, trained for 50 epochs (the paper does not give the curve budget).
quick: the MNIST quick models; 9×9 grid over [-0.5, 0.5]² on 256 examples; order-2 curves
for ε ∈ {0, 0.1, 0.2} between seeds 0 and 1, trained for 4 epochs on 2,000 digits.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from advland.experiments.eps_models import cifar_eps_runs, mnist_eps_runs
from advland.experiments.jobs import AnalysisJob, TrainJob, run_dir_of
from advland.experiments.outputs import load_json, outputs_by_eps
from advland.experiments.recipe import Context, Plan, Recipe, Summary, claim
from advland.experiments.stats import fmt_series, ordered

SURFACE = {
    "full": {"n1": 21, "n2": 21, "a1": "[-1,1]", "a2": "[-1,1]", "train_n": 1000},
    "quick": {"n1": 9, "n2": 9, "a1": "[-0.5,0.5]", "a2": "[-0.5,0.5]", "train_n": 256},
}
CURVE = {
    "full": {"epochs": 50, "train_n": 0, "test_n": 0},
    "quick": {"epochs": 4, "train_n": 2000, "test_n": 500},
}
QUICK_CURVE_EPS = (0.0, 0.1, 0.2)


def _surface_job(root: Path, job: TrainJob, scale: str) -> AnalysisJob:
    s = SURFACE[scale]
    sets = [a for k in ("n1", "n2", "a1", "a2") for a in ("--set", f"{k}={s[k]}")]
    argv = ("analyze", "surface", str(run_dir_of(root, job)), "--directions", "eigen",
            "--set", f"eps=[{job.tag['eps']!r}]", *sets, "--train-n", str(s["train_n"]))  # fmt: skip
    return AnalysisJob(f"surface-{job.key}", argv, f"analysis/surface/{job.key}", "surface.json")


def _surface_runs(scale: str) -> tuple[TrainJob, ...]:
    return mnist_eps_runs(scale) + (cifar_eps_runs(scale) if scale == "full" else ())


def _plan_fig12(scale: str, root: Path) -> Plan:
    runs = _surface_runs(scale)
    jobs = tuple(_surface_job(root, j, scale) for j in runs)
    return Plan(train=runs, analyses=jobs, settings=dict(SURFACE[scale]), seeds=(0,))


def rises(record: dict) -> tuple[float, float]:
    """(local, whole-grid) mean rise of the loss above its value at θ (the grid centre).

    Local = over the 8 grid points next to θ: curvature is a local property, and farther
    out the loss saturates (measured at quick scale: the whole-grid mean was 5.91 / 4.84 /
    6.01 for ε = 0 / 0.1 / 0.2 while the local rise was 0.46 / 0.65 / 1.02, in the order of
    the top eigenvalues of Fig. 9). The verdict uses the local rise; both are reported."""
    loss = np.asarray(record["loss"][0], dtype=float)
    i, j = loss.shape[0] // 2, loss.shape[1] // 2
    centre = loss[i, j]
    ring = loss[max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
    local = (np.nansum(ring) - centre) / (ring.size - 1) - centre
    return float(local), float(np.nanmean(loss - centre))


def _summarize_fig12(ctx: Context) -> Summary:
    from advland.reporting.plot_surface import plot_surface

    figures, claims = [], []
    for task in ("mnist", "cifar"):
        found = outputs_by_eps(ctx, task)
        if not found:
            continue
        first = next(iter(found.values()))
        loss = np.stack([np.asarray(r["loss"][0], dtype=float) for r in found.values()])
        cfg = SimpleNamespace(a2=first["a2"], directions="eigen")
        panel = SimpleNamespace(config=cfg, a1=np.asarray(first["a1"]), a2=np.asarray(first["a2"]), eps=tuple(found),
                                loss=loss, error=np.stack([np.asarray(r["robust_error"][0]) for r in found.values()]),
                                done=np.ones(loss.shape, dtype=bool))  # fmt: skip
        plot_surface(panel, ctx.out / f"surface_{task}")
        figures.append(f"surface_{task}")
        local, grid = zip(*(rises(r) for r in found.values()), strict=True)
        text = f"{task}: the loss rises faster around θ along the top eigenvectors under larger ε"
        evidence = (f"mean rise at the 8 grid points next to θ: {fmt_series(list(found), local)}; "
                    f"over the whole grid: {fmt_series(list(found), grid)}")  # fmt: skip
        claims.append(claim(text, ordered(list(local), increasing=True), evidence))
    return Summary(figures=figures, claims=claims or [claim("surfaces", None, "no surface results")])  # fmt: skip


# -------------------------------------------------------------------- Fig. 15


def _curve_pairs(scale: str) -> list[tuple[TrainJob, TrainJob, int]]:
    a, b = mnist_eps_runs(scale, 0), mnist_eps_runs(scale, 1)
    pairs = [(x, y, 2) for x, y in zip(a, b, strict=True)]
    if scale == "full":
        pairs += [(x, y, 4) for x, y in zip(cifar_eps_runs(scale, 0), cifar_eps_runs(scale, 1), strict=True)]  # fmt: skip
    else:
        pairs = [p for p in pairs if p[0].tag["eps"] in QUICK_CURVE_EPS]
    return pairs


def _curve_job(root: Path, a: TrainJob, b: TrainJob, order: int, scale: str) -> AnalysisJob:
    c = CURVE[scale]
    argv = ("analyze", "curve", str(run_dir_of(root, a)), str(run_dir_of(root, b)),
            "--set", f"order={order}", "--set", f"epochs={c['epochs']}",
            "--train-n", str(c["train_n"]), "--test-n", str(c["test_n"]))  # fmt: skip
    return AnalysisJob(f"curve-{a.key}", argv, f"analysis/curve/{a.key}", "curve.json")


def _plan_fig15(scale: str, root: Path) -> Plan:
    pairs = _curve_pairs(scale)
    runs = tuple(j for a, b, _ in pairs for j in (a, b))
    jobs = tuple(_curve_job(root, a, b, order, scale) for a, b, order in pairs)
    return Plan(train=runs, analyses=jobs, settings=dict(CURVE[scale]), seeds=(0, 1))


def barrier(record: dict) -> float:
    """Highest training loss along the curve above the worse of its two ends."""
    loss = record["metrics"]["train_loss"]
    return float(max(loss) - max(loss[0], loss[-1]))


def _summarize_fig15(ctx: Context) -> Summary:
    from advland.reporting.plot_curve import plot_curve

    figures, claims = [], []
    for task in ("mnist", "cifar"):
        found = {}
        for a in ctx.plan.analyses:
            rec = load_json(ctx.analysis_dir(a) / "curve.json")
            if rec is not None and a.name.startswith(f"curve-{task}-"):
                found[rec["config"]["eps"]] = rec
        if not found:
            continue
        found = dict(sorted(found.items()))
        shown = [
            SimpleNamespace(config=SimpleNamespace(eps=e), t=r["t"], metrics=r["metrics"])
            for e, r in found.items()
        ]
        plot_curve(shown, ctx.out / f"curve_{task}")
        figures.append(f"curve_{task}")
        bars = [barrier(r) for r in found.values()]
        text = (
            f"{task}: the loss barrier along the learned curve grows with ε (minima less connected)"
        )
        claims.append(
            claim(text, ordered(bars, increasing=True), "barrier: " + fmt_series(list(found), bars))
        )
    return Summary(figures=figures, claims=claims or [claim("curves", None, "no curve results")])  # fmt: skip


FIG12 = Recipe(
    name="fig12",
    title="Adversarial loss surface along the top-2 Hessian eigenvectors for several ε",
    claim="The curvature around the trained parameters grows with ε: minima are sharper under larger budgets.",
    plan=_plan_fig12,
    summarize=_summarize_fig12,
    cost={"quick": "≈ 6 min on 2 CPU cores (MNIST only)", "full": "≈ 40 GPU-hours of training + 3 GPU-hours"},
)  # fmt: skip

FIG15 = Recipe(
    name="fig15",
    title="Training loss and test error along Bezier curves connecting two independently trained models",
    claim="For vanilla training or a small ε the learned curves are flat; under a larger ε they must cross regions of higher loss.",
    plan=_plan_fig15,
    summarize=_summarize_fig15,
    cost={"quick": "≈ 12 min on 2 CPU cores", "full": "≈ 80 GPU-hours of training + curves"},
)  # fmt: skip
