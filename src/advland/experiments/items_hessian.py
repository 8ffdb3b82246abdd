"""Fig. 2 / 9: top-20 Hessian eigenvalues (raw and normalised) of the ε-sweep models."""

from __future__ import annotations

from pathlib import Path

from advland.experiments.eps_models import eps_runs
from advland.experiments.jobs import AnalysisJob, TrainJob, analysis_job, set_args
from advland.experiments.outputs import outputs_by_eps
from advland.experiments.recipe import Context, Plan, Summary, claim, recipe, table
from advland.experiments.stats import trend_claim

# Paper: power iteration on the training set, normaliser = mean loss of 10 random models.
# Lanczos reaches the same top-20 with fewer products (docs/analysis.md); quick shrinks the
# subset and the number of random models.
SETTINGS = {
    "full": {"subset_size": 5000, "num_random_models": 10},
    "quick": {"subset_size": 256, "num_random_models": 5},
}


def hessian_job(root: Path, job: TrainJob, scale: str) -> AnalysisJob:
    args = set_args(SETTINGS[scale])
    return analysis_job("hessian", root, [job], "spectrum.json", args)


def _plan_for(task: str):
    def plan(scale: str, root: Path) -> Plan:
        runs = eps_runs(task, scale)
        jobs = tuple(hessian_job(root, j, scale) for j in runs)
        return Plan(train=runs, analyses=jobs, settings=dict(SETTINGS[scale], k=20), seeds=(0,))

    return plan


def eigen_claims(by_eps: dict[float, dict]) -> list[dict]:
    texts = (
        "the top normalised Hessian eigenvalue grows with ε",
        "the top raw Hessian eigenvalue grows with ε",
    )
    if len(by_eps) < 2:
        return [claim(t, None, "fewer than two spectra") for t in texts]
    eps = list(by_eps)
    norm = [r["normalized_eigenvalues"][0] for r in by_eps.values()]
    raw = [r["eigenvalues"][0] for r in by_eps.values()]
    return [
        trend_claim(texts[0], "λ1/normaliser", eps, norm, True),
        trend_claim(texts[1], "λ1", eps, raw, True),
    ]


COLUMNS = [
    "ε",
    "λ1",
    "λ1 normalised",
    "normaliser (mean random-θ loss)",
    "Σ top-20 λ",
    "model clean / robust test error %",
]


def _row(eps: float, r: dict, model: dict) -> list[str]:
    return [
        f"{eps:g}",
        f"{r['eigenvalues'][0]:.4g}",
        f"{r['normalized_eigenvalues'][0]:.4g}",
        f"{r['normalization']['normalizer']:.4f}",
        f"{sum(r['eigenvalues'][:20]):.4g}",
        _errors(model),
    ]


def _table(by_eps: dict[float, dict], models: dict[float, dict]) -> dict:
    """One row per ε; the model's own test errors show whether it trained at all (a model
    still on the initial plateau has a flat, not a sharp, landscape)."""
    rows = [_row(e, r, models.get(e, {})) for e, r in by_eps.items()]
    return table("Top Hessian eigenvalues", COLUMNS, rows)


def _errors(summary: dict) -> str:
    if "clean_error" not in summary:
        return "-"
    return f"{summary['clean_error']:.1f} / {summary['robust_error']:.1f}"


def _summarize(ctx: Context) -> Summary:
    from advland.reporting.plot_spectrum import plot_spectrum

    by_eps = outputs_by_eps(ctx)
    if not by_eps:
        return Summary(claims=eigen_claims(by_eps))
    plot_spectrum({f"ε={e:.4g}": r for e, r in by_eps.items()}, ctx.out / "spectrum.png")
    models = {r.tag["eps"]: r.summary for r in ctx.runs()}
    tables = [_table(by_eps, models)]
    return Summary(figures=["spectrum"], tables=tables, claims=eigen_claims(by_eps))


COST_FIG2 = {
    "quick": "≈ 7 min on 2 CPU cores",
    "full": "≈ 30 GPU-hours of training + 1 GPU-hour of HVPs",
}
COST_FIG9 = {"quick": "≈ 3 min on 2 CPU cores", "full": "≈ 10 GPU-hours"}

FIG2 = recipe("fig2", _plan_for("cifar"), _summarize, COST_FIG2)
FIG9 = recipe("fig9", _plan_for("mnist"), _summarize, COST_FIG9)
