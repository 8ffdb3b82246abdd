"""Fig. 3 / 10: perturbation cosine similarity and robust error at θ ± a·v, v the top
Hessian eigenvector vs a random direction, for the ε-sweep models with ε > 0."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from advland.experiments import history
from advland.experiments.eps_models import SEEDS, eps_sweep
from advland.experiments.jobs import AnalysisJob, TrainJob, analysis_job, set_args, subset_args
from advland.experiments.outputs import config_eps, outputs_by_eps
from advland.experiments.recipe import (
    RULE_V1,
    Context,
    Plan,
    Summary,
    claim,
    earlier_verdict,
    recipe,
)
from advland.experiments.stats import FAMILIES, combine, directional, flat, flat_text, fmt_values

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
        runs = tuple(j for j in eps_sweep(task, scale) if j.tag["eps"] > 0)
        jobs = tuple(similarity_job(root, j, scale) for j in runs)
        settings = dict(SETTINGS[scale])
        return Plan(train=runs, analyses=jobs, settings=settings, seeds=SEEDS[scale])

    return plan


def _robust(record: dict, split: str) -> np.ndarray:
    m = record["mean"]
    return (
        np.asarray(m[f"robust_error_plus_{split}"]) + np.asarray(m[f"robust_error_minus_{split}"])
    ) / 2


# Tolerances of the "flat along a random direction" claims (rule 2, stated in the report).
ERROR_TOL = 5.0  # percentage points of robust training error, at every a
SIMILARITY_TOL = 0.2  # 1 − cosine similarity of the perturbations, at every a
TEXTS = (
    "perturbations change faster along the top eigenvector than along a random direction",
    "the robust training error rises more along the top eigenvector than along a random direction",
    f"along a random direction the robust training error stays flat (within ±{ERROR_TOL:g} "
    "points at every a)",
    f"along a random direction the perturbations stay similar (cosine ≥ {1 - SIMILARITY_TOL:g} "
    "at every a)",
)


def _largest_change(values: np.ndarray) -> float:
    """The change from a = 0 with the largest magnitude over the a grid (signed)."""
    d = np.asarray(values, dtype=float) - float(values[0])
    return float(d[int(np.argmax(np.abs(d)))])


def _per_seed(recs: dict[int, dict]) -> dict[str, list[float]]:
    """Per seed: similarity at the largest a (eig, random), robust-error rise there, and
    the random direction's largest error change and similarity drop over the grid."""
    out: dict[str, list[float]] = {k: [] for k in ("s_e", "s_r", "e_e", "e_r", "flat_e", "drop")}
    for rec in recs.values():
        eig, rnd = rec["top-eigenvector"], rec["random"]
        out["s_e"].append(eig["mean"]["similarity_train"][-1])
        out["s_r"].append(rnd["mean"]["similarity_train"][-1])
        out["e_e"].append(float(_robust(eig, "train")[-1] - _robust(eig, "train")[0]))
        out["e_r"].append(float(_robust(rnd, "train")[-1] - _robust(rnd, "train")[0]))
        out["flat_e"].append(_largest_change(_robust(rnd, "train")))
        out["drop"].append(1 - float(np.min(rnd["mean"]["similarity_train"])))
    return out


def direction_claims(by_eps: dict[float, dict[int, dict]]) -> list[dict]:
    """Per ε > 0, paired by model: the eigenvector direction changes perturbations and error
    more than a random one at the largest a; along the random one both stay flat over the
    whole a grid, within stated tolerances."""
    if not by_eps:
        return [claim(t, None, "no similarity results") for t in TEXTS]
    tests: dict[str, list] = {k: [] for k in ("sim", "err", "flat_e", "flat_s")}
    ev: dict[str, list[str]] = {k: [] for k in tests}
    for eps, recs in by_eps.items():
        v = _per_seed(recs)
        t = {
            "sim": directional(v["s_e"], v["s_r"], paired=True),
            "err": directional(v["e_r"], v["e_e"], paired=True),
            "flat_e": flat(v["flat_e"], ERROR_TOL),
            "flat_s": flat(v["drop"], SIMILARITY_TOL),
        }
        for k, test in t.items():
            tests[k].append(test)
        ev["sim"].append(
            f"ε={eps:g}: cos {fmt_values(v['s_e'])} (eig) vs {fmt_values(v['s_r'])} (random), {t['sim'].text()}"
        )
        ev["err"].append(
            f"ε={eps:g}: {fmt_values(v['e_e'])} (eig) vs {fmt_values(v['e_r'])} (random) points, {t['err'].text()}"
        )
        ev["flat_e"].append(
            f"ε={eps:g}: largest change {fmt_values(v['flat_e'])} points, {flat_text(t['flat_e'], ERROR_TOL)}"
        )
        ev["flat_s"].append(
            f"ε={eps:g}: 1 − min cos {fmt_values(v['drop'])}, {flat_text(t['flat_s'], SIMILARITY_TOL)}"
        )
    a = next(iter(next(iter(by_eps.values())).values()))["top-eigenvector"]["a"][-1]
    return [
        _direction(TEXTS[0], tests["sim"], f"at a={a:g}: " + "; ".join(ev["sim"])),
        _direction(
            TEXTS[1], tests["err"], f"robust train error change at a={a:g}: " + "; ".join(ev["err"])
        ),
        _flat(TEXTS[2], tests["flat_e"], "; ".join(ev["flat_e"]), f"tol = ±{ERROR_TOL:g} points"),
        _flat(
            TEXTS[3],
            tests["flat_s"],
            "; ".join(ev["flat_s"]),
            f"tol = {SIMILARITY_TOL:g} (1 − cos)",
        ),
    ]


def _direction(text: str, tests: list, evidence: str) -> dict:
    v1 = combine(t.means_verdict for t in tests)
    return claim(
        text,
        combine(t.verdict for t in tests),
        evidence,
        family="directional",
        rule=f"directional at every ε: {FAMILIES['directional']} (paired by model)",
        earlier=(earlier_verdict(1, v1),),
    )


def _flat(text: str, tests: list, evidence: str, tol: str) -> dict:
    rule = f"flat at every ε, {tol}: {FAMILIES['flat']}; new in rule 2 (rule 1 tested only the comparison at the largest a)"
    return claim(text, combine(t.verdict for t in tests), evidence, family="flat", rule=rule)


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

    first = [next(iter(recs.values())) for recs in by_eps.values()]  # the figure: first seed
    results = [_result(rec[d]) for rec in first for d in ("top-eigenvector", "random")]
    plot_similarity(results, ctx.out / "similarity.png", min_train_robust_acc=None)
    return ["similarity"]


def _summarize(ctx: Context) -> Summary:
    by_eps = outputs_by_eps(ctx)
    figures = _plot(ctx, by_eps) if by_eps else []
    return Summary(figures=figures, claims=direction_claims(by_eps))


COST_FIG3 = {
    "quick": "≈ 30 min on 2 CPU cores (6 runs + 6 analyses)",
    "full": "≈ 90 GPU-hours of training + 6 GPU-hours",
}
COST_FIG10 = {"quick": "≈ 15 min on 2 CPU cores (6 runs + 6 analyses)", "full": "≈ 30 GPU-hours"}

FIG3 = recipe(
    "fig3",
    _plan_for("cifar"),
    _summarize,
    COST_FIG3,
    config_version=5,
    families=("directional", "flat"),
    history=(
        history.RESNET_STANDIN,
        RULE_V1,
        history.FLATNESS,
        history.seeds_change(
            5,
            "one seed",
            "2/2 reproduced",
            "at a = 0.4: cosine 0.42-0.44 (eigenvector) vs 0.88 (random); robust training "
            "error +84-90 vs +0.0-0.1 points (ε = 0.1 / 0.2)",
        ),
    ),
)
FIG10 = recipe(
    "fig10",
    _plan_for("mnist"),
    _summarize,
    COST_FIG10,
    config_version=3,
    families=("directional", "flat"),
    history=(
        history.MNIST_EPS_CUT,
        RULE_V1,
        history.FLATNESS,
        history.seeds_change(
            3,
            "one seed",
            "2/2 reproduced",
            "at a = 0.4: cosine 0.51-0.55 (eigenvector) vs 0.83-0.91 (random); robust training "
            "error +42-46 vs +0.0-0.3 points (ε = 0.1 / 0.2)",
        ),
    ),
)
