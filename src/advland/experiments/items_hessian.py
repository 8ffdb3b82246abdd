"""Fig. 2 / 9: top-20 Hessian eigenvalues (raw and normalised) of the ε-sweep models."""

from __future__ import annotations

from pathlib import Path

from advland.experiments import history
from advland.experiments.eps_models import SEEDS, eps_sweep
from advland.experiments.jobs import AnalysisJob, TrainJob, analysis_job, set_args
from advland.experiments.outputs import common_seeds, outputs_by_eps, series_of
from advland.experiments.recipe import RULE_V1, Context, Plan, Summary, claim, recipe, table
from advland.experiments.stats import fmt_values, trend_claim

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
        runs = eps_sweep(task, scale)
        jobs = tuple(hessian_job(root, j, scale) for j in runs)
        settings = dict(SETTINGS[scale], k=20)
        return Plan(train=runs, analyses=jobs, settings=settings, seeds=SEEDS[scale])

    return plan


def eigen_claims(by_eps: dict[float, dict[int, dict]]) -> list[dict]:
    texts = (
        "the top normalised Hessian eigenvalue grows with ε",
        "the top raw Hessian eigenvalue grows with ε",
    )
    if len(by_eps) < 2 or not common_seeds(by_eps):
        return [claim(t, None, "fewer than two ε with spectra of the same seeds") for t in texts]
    eps = list(by_eps)
    norm = series_of(by_eps, lambda r: r["normalized_eigenvalues"][0])
    raw = series_of(by_eps, lambda r: r["eigenvalues"][0])
    return [
        trend_claim(texts[0], "λ1/normaliser", eps, norm, True),
        trend_claim(texts[1], "λ1", eps, raw, True),
    ]


COLUMNS = [
    "ε",
    "n (seeds)",
    "λ1",
    "λ1 normalised",
    "normaliser (mean random-θ loss)",
    "Σ top-20 λ",
    "model clean / robust test error % (quick suite)",
]


def _row(eps: float, recs: dict[int, dict], models: list[dict]) -> list[str]:
    def col(metric) -> str:
        return fmt_values([metric(r) for r in recs.values()], ".4g")

    return [
        f"{eps:g}",
        str(len(recs)),
        col(lambda r: r["eigenvalues"][0]),
        col(lambda r: r["normalized_eigenvalues"][0]),
        col(lambda r: r["normalization"]["normalizer"]),
        col(lambda r: sum(r["eigenvalues"][:20])),
        _errors(models),
    ]


def _table(by_eps: dict[float, dict[int, dict]], models: dict[float, list[dict]]) -> dict:
    """One row per ε, mean ± std over seeds; the models' own test errors show whether they
    trained at all (a model still on the initial plateau has a flat, not a sharp, landscape)."""
    rows = [_row(e, r, models.get(e, [])) for e, r in by_eps.items()]
    return table("Top Hessian eigenvalues (mean ± std over seeds)", COLUMNS, rows)


def _errors(summaries: list[dict]) -> str:
    done = [s for s in summaries if "clean_error" in s]
    if not done:
        return "-"
    clean = fmt_values([s["clean_error"] for s in done], ".1f")
    robust = fmt_values([s["robust_error"] for s in done], ".1f")
    return f"{clean} / {robust}"


def _summarize(ctx: Context) -> Summary:
    from advland.reporting.plot_spectrum import plot_spectrum

    by_eps = outputs_by_eps(ctx)
    if not by_eps:
        return Summary(claims=eigen_claims(by_eps))
    first = {e: next(iter(r.values())) for e, r in by_eps.items()}  # the figure: first seed
    plot_spectrum({f"ε={e:.4g}": r for e, r in first.items()}, ctx.out / "spectrum.png")
    models: dict[float, list[dict]] = {}
    for r in ctx.runs():
        models.setdefault(r.tag["eps"], []).append(r.summary)
    tables = [_table(by_eps, models)]
    return Summary(figures=["spectrum"], tables=tables, claims=eigen_claims(by_eps))


COST_FIG2 = {
    "quick": "≈ 21 min on 2 CPU cores (9 runs + 9 spectra)",
    "full": "≈ 90 GPU-hours of training + 3 GPU-hours of HVPs",
}
COST_FIG9 = {"quick": "≈ 9 min on 2 CPU cores (9 runs + 9 spectra)", "full": "≈ 30 GPU-hours"}

FIG2 = recipe(
    "fig2",
    _plan_for("cifar"),
    _summarize,
    COST_FIG2,
    config_version=5,
    families=("trend",),
    history=(
        history.RESNET_STANDIN,
        RULE_V1,
        history.seeds_change(
            5,
            "one seed",
            "2/2 reproduced",
            "λ1 17.8 / 74.1 / 129, normalised 7.5 / 21.3 / 35.7 (ε = 0 / 0.1 / 0.2)",
        ),
    ),
)
FIG9 = recipe(
    "fig9",
    _plan_for("mnist"),
    _summarize,
    COST_FIG9,
    config_version=3,
    families=("trend",),
    history=(
        history.MNIST_EPS_CUT,
        RULE_V1,
        history.seeds_change(
            3,
            "one seed",
            "2/2 reproduced",
            "λ1 26.6 / 51.3 / 77.5, normalised 11.5 / 22.0 / 32.8 (ε = 0 / 0.1 / 0.2)",
        ),
    ),
)
