"""Fig. 2 / 9: top-20 Hessian eigenvalues (raw and normalised) of the ε-sweep models."""

from __future__ import annotations

from pathlib import Path

from advland.experiments.eps_models import cifar_eps_runs, mnist_eps_runs
from advland.experiments.jobs import AnalysisJob, TrainJob, run_dir_of
from advland.experiments.outputs import outputs_by_eps
from advland.experiments.recipe import Context, Plan, Recipe, Summary, claim
from advland.experiments.stats import fmt_series, ordered

# Paper: power iteration on the training set, normaliser = mean loss of 10 random models.
# Lanczos reaches the same top-20 with fewer products (docs/analysis.md); quick shrinks the
# subset and the number of random models.
SETTINGS = {
    "full": {"subset_size": 5000, "num_random_models": 10},
    "quick": {"subset_size": 256, "num_random_models": 5},
}


def hessian_job(root: Path, job: TrainJob, scale: str) -> AnalysisJob:
    sets = [a for k, v in SETTINGS[scale].items() for a in ("--set", f"{k}={v}")]
    argv = ("analyze", "hessian", str(run_dir_of(root, job)), *sets)
    return AnalysisJob(f"hessian-{job.key}", argv, f"analysis/hessian/{job.key}", "spectrum.json")


def _plan_for(task: str):
    def plan(scale: str, root: Path) -> Plan:
        runs = cifar_eps_runs(scale) if task == "cifar" else mnist_eps_runs(scale)
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
        claim(texts[0], ordered(norm, increasing=True), "λ1/normaliser: " + fmt_series(eps, norm)),
        claim(texts[1], ordered(raw, increasing=True), "λ1: " + fmt_series(eps, raw)),
    ]  # fmt: skip


def _table(by_eps: dict[float, dict], models: dict[float, dict]) -> dict:
    """One row per ε; the model's own test errors show whether it trained at all (a model
    still on the initial plateau has a flat, not a sharp, landscape)."""
    rows = [
        [f"{e:g}", f"{r['eigenvalues'][0]:.4g}", f"{r['normalized_eigenvalues'][0]:.4g}",
         f"{r['normalization']['normalizer']:.4f}", f"{sum(r['eigenvalues'][:20]):.4g}",
         _errors(models.get(e, {}))]
        for e, r in by_eps.items()
    ]  # fmt: skip
    cols = ["ε", "λ1", "λ1 normalised", "normaliser (mean random-θ loss)", "Σ top-20 λ",
            "model clean / robust test error %"]  # fmt: skip
    return {"name": "Top Hessian eigenvalues", "columns": cols, "rows": rows, "paper": None}


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
    table = _table(by_eps, models)
    return Summary(figures=["spectrum"], tables=[table], claims=eigen_claims(by_eps))


FIG2 = Recipe(
    name="fig2",
    title="Top-20 Hessian eigenvalues of ResNet18 models trained with several ε (raw and normalised)",
    claim="The top Hessian eigenvalues, raw and normalised by the loss scale, grow with ε: minima are sharper under larger budgets.",
    plan=_plan_for("cifar"),
    summarize=_summarize,
    cost={"quick": "≈ 7 min on 2 CPU cores", "full": "≈ 30 GPU-hours of training + 1 GPU-hour of HVPs"},
)  # fmt: skip

FIG9 = Recipe(
    name="fig9",
    title="Top-20 Hessian eigenvalues of LeNet models trained with several ε (raw and normalised)",
    claim="The MNIST counterpart of Fig. 2: the top eigenvalues grow with ε.",
    plan=_plan_for("mnist"),
    summarize=_summarize,
    cost={"quick": "≈ 3 min on 2 CPU cores", "full": "≈ 10 GPU-hours"},
)  # fmt: skip
