"""Fig. 3 / 10: perturbation cosine similarity and robust error at θ ± a·v, v the top
Hessian eigenvector vs a random direction, for the ε-sweep models with ε > 0."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from advland.experiments.eps_models import eps_runs
from advland.experiments.jobs import AnalysisJob, TrainJob, analysis_job, set_args, subset_args
from advland.experiments.outputs import config_eps, outputs_by_eps
from advland.experiments.recipe import Context, Plan, Summary, claim, recipe

# Paper: PGD from the model's own recipe, 4 repeats (random starts), the training set.
SETTINGS: dict[str, dict[str, Any]] = {
    "full": {"repeats": 4, "train_n": 5000, "test_n": 1000},
    "quick": {"repeats": 2, "train_n": 256, "test_n": 256, "a": "[0,0.1,0.2,0.3,0.4]"},
}


def similarity_job(root: Path, job: TrainJob, scale: str) -> AnalysisJob:
    s = SETTINGS[scale]
    sets: dict[str, Any] = {k: s[k] for k in ("repeats", "a") if k in s}
    args = (*set_args(sets), *subset_args(s["train_n"], s["test_n"]))
    return analysis_job("similarity", root, [job], "similarity.json", args)


def _plan_for(task: str):
    def plan(scale: str, root: Path) -> Plan:
        # No perturbation at ε = 0, so nothing to compare.
        runs = tuple(j for j in eps_runs(task, scale) if j.tag["eps"] > 0)
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
        "the robust training error rises along the top eigenvector but stays flat along a random "
        "direction",
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


def _result(record: dict) -> SimpleNamespace:
    """A saved similarity record as the result `plot_similarity` draws."""
    arrays = {
        k: {n: np.asarray(v) for n, v in record[k].items()} for k in ("mean", "std", "per_repeat")
    }
    attack = SimpleNamespace(eps=config_eps(record["config"]))
    return SimpleNamespace(
        config=SimpleNamespace(direction=record["config"]["direction"], attack=attack),
        a=tuple(record["a"]),
        **arrays,
    )


def _plot(ctx: Context, by_eps: dict[float, dict]) -> list[str]:
    from advland.reporting.plot_similarity import plot_similarity

    results = [_result(rec[d]) for rec in by_eps.values() for d in ("top-eigenvector", "random")]
    plot_similarity(results, ctx.out / "similarity.png", min_train_robust_acc=None)
    return ["similarity"]


def _summarize(ctx: Context) -> Summary:
    by_eps = outputs_by_eps(ctx)
    figures = _plot(ctx, by_eps) if by_eps else []
    return Summary(figures=figures, claims=direction_claims(by_eps))


COST_FIG3 = {
    "quick": "≈ 10 min on 2 CPU cores",
    "full": "≈ 30 GPU-hours of training + 2 GPU-hours",
}
COST_FIG10 = {"quick": "≈ 5 min on 2 CPU cores", "full": "≈ 10 GPU-hours"}

FIG3 = recipe("fig3", _plan_for("cifar"), _summarize, COST_FIG3)
FIG10 = recipe("fig10", _plan_for("mnist"), _summarize, COST_FIG10)
