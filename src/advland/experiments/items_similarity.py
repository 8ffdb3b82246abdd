"""Fig. 3 / 10: perturbation cosine similarity and robust error at θ ± a·v, v the top
Hessian eigenvector vs a random direction, for the ε-sweep models with ε > 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advland.experiments.eps_models import cifar_eps_runs, mnist_eps_runs
from advland.experiments.jobs import AnalysisJob, TrainJob, run_dir_of
from advland.experiments.outputs import outputs_by_eps
from advland.experiments.recipe import Context, Plan, Recipe, Summary, claim

# Paper: PGD from the model's own recipe, 4 repeats (random starts), the training set.
SETTINGS = {
    "full": {"repeats": 4, "train_n": 5000, "test_n": 1000},
    "quick": {"repeats": 2, "train_n": 256, "test_n": 256, "a": "[0,0.1,0.2,0.3,0.4]"},
}


def similarity_job(root: Path, job: TrainJob, scale: str) -> AnalysisJob:
    s = SETTINGS[scale]
    grid = ("--set", f"a={s['a']}") if "a" in s else ()
    argv = ("analyze", "similarity", str(run_dir_of(root, job)), "--set", f"repeats={s['repeats']}", *grid,
            "--train-n", str(s["train_n"]), "--test-n", str(s["test_n"]))  # fmt: skip
    out = f"analysis/similarity/{job.key}"
    return AnalysisJob(f"similarity-{job.key}", argv, out, "similarity.json")


def _plan_for(task: str):
    def plan(scale: str, root: Path) -> Plan:
        runs = cifar_eps_runs(scale) if task == "cifar" else mnist_eps_runs(scale)
        runs = tuple(j for j in runs if j.tag["eps"] > 0)  # no perturbation at ε = 0
        jobs = tuple(similarity_job(root, j, scale) for j in runs)
        return Plan(train=runs, analyses=jobs, settings=dict(SETTINGS[scale]), seeds=(0,))

    return plan


def _robust(record: dict, split: str) -> np.ndarray:
    m = record["mean"]
    return (
        np.asarray(m[f"robust_error_plus_{split}"]) + np.asarray(m[f"robust_error_minus_{split}"])
    ) / 2


def direction_claims(by_eps: dict[float, dict]) -> list[dict]:
    """At the largest a, the eigenvector direction changes perturbations and error more."""
    texts = (
        "perturbations change faster along the top eigenvector than along a random direction",
        "the robust training error rises along the top eigenvector but stays flat along a random direction",
    )
    if not by_eps:
        return [claim(t, None, "no similarity results") for t in texts]
    sim_ok, err_ok, sim_ev, err_ev = [], [], [], []
    for eps, rec in by_eps.items():
        eig, rnd = rec["top-eigenvector"], rec["random"]
        s_e, s_r = eig["mean"]["similarity_train"][-1], rnd["mean"]["similarity_train"][-1]
        e_e = _robust(eig, "train")[-1] - _robust(eig, "train")[0]
        e_r = _robust(rnd, "train")[-1] - _robust(rnd, "train")[0]
        sim_ok.append(s_e < s_r)
        err_ok.append(e_e > e_r)
        sim_ev.append(f"ε={eps:g}: cos {s_e:.3f} (eig) vs {s_r:.3f} (random)")
        err_ev.append(f"ε={eps:g}: +{e_e:.1f} (eig) vs {e_r:+.1f} (random) points")
    a = by_eps[next(iter(by_eps))]["top-eigenvector"]["a"][-1]
    return [
        claim(texts[0], all(sim_ok), f"at a={a:g}: " + "; ".join(sim_ev)),
        claim(texts[1], all(err_ok), f"robust train error change at a={a:g}: " + "; ".join(err_ev)),
    ]


def _plot(ctx: Context, by_eps: dict[float, dict]) -> list[str]:
    from advland.analysis.landscape.similarity import SimilarityConfig, SimilarityResult
    from advland.reporting.plot_similarity import plot_similarity

    results = []
    for rec in by_eps.values():
        for d in ("top-eigenvector", "random"):
            r = rec[d]
            arrays = {
                k: {n: np.asarray(v) for n, v in r[k].items()}
                for k in ("mean", "std", "per_repeat")
            }
            cfg = SimilarityConfig(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in r["config"].items()}
            )
            results.append(SimilarityResult(cfg, tuple(r["a"]), arrays["per_repeat"], arrays["mean"], arrays["std"], r["direction_norm"]))  # fmt: skip
    plot_similarity(results, ctx.out / "similarity.png", min_train_robust_acc=None)
    return ["similarity"]


def _summarize(ctx: Context) -> Summary:
    by_eps = outputs_by_eps(ctx)
    figures = _plot(ctx, by_eps) if by_eps else []
    return Summary(figures=figures, claims=direction_claims(by_eps))


FIG3 = Recipe(
    name="fig3",
    title="Perturbation cosine similarity and robust error at θ±a·v: top eigenvector vs random direction (ResNet18)",
    claim="Along the top Hessian eigenvector the adversarial perturbations change abruptly and the robust error rises sharply; along a random direction both stay flat.",
    plan=_plan_for("cifar"),
    summarize=_summarize,
    cost={"quick": "≈ 10 min on 2 CPU cores", "full": "≈ 30 GPU-hours of training + 2 GPU-hours"},
)  # fmt: skip

FIG10 = Recipe(
    name="fig10",
    title="Perturbation cosine similarity and robust error at θ±a·v (LeNet, MNIST)",
    claim="The MNIST counterpart of Fig. 3, with the same observations.",
    plan=_plan_for("mnist"),
    summarize=_summarize,
    cost={"quick": "≈ 5 min on 2 CPU cores", "full": "≈ 10 GPU-hours"},
)  # fmt: skip
