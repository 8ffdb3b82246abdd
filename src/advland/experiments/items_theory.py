"""`theory` (section 3's linear-model results, checked against closed forms) and Fig. 5
(the 1-D sketch of a vanilla vs adversarial loss with its kink at θ = 0).

Both run `advland analyze theory` once (CPU seconds, float64, no training); the scales
only differ in the number of samples of the Monte Carlo checks.
"""

from __future__ import annotations

from pathlib import Path

from advland.experiments.jobs import AnalysisJob
from advland.experiments.outputs import load_json
from advland.experiments.recipe import Context, Plan, Summary, claim, recipe

SETTINGS = {"full": {"proposition1.samples": 100000}, "quick": {"proposition1.samples": 10000}}
SKETCH_CHECKS = ("sketch_kink_fig5", "theorem2_gradient_bound")


def _plan_for(item: str):
    def plan(scale: str, root: Path) -> Plan:
        sets = [a for k, v in SETTINGS[scale].items() for a in ("--set", f"{k}={v}")]
        job = AnalysisJob(
            f"{item}-theory-{scale}",
            ("analyze", "theory", *sets),
            f"{item}/analysis",
            "theory.json",
        )
        return Plan(analyses=(job,), settings=dict(SETTINGS[scale]), seeds=(0,))

    return plan


def _evidence(measured: dict) -> str:
    scalars = [
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in measured.items()
        if isinstance(v, (int, float, bool, str))
    ]
    return ", ".join(scalars[:6]) or "see theory.json"


def _claims(record: dict | None, names: tuple[str, ...] | None) -> list[dict]:
    if record is None:
        return [claim("the linear-model checks", None, "advland analyze theory did not finish")]
    checks = [c for c in record["checks"] if names is None or c["name"] in names]
    return [
        claim(f"{c['name']}: {c['claim']}", c["passed"], _evidence(c["measured"])) for c in checks
    ]


def _summarize_for(names: tuple[str, ...] | None, figures: tuple[str, ...]):
    def summarize(ctx: Context) -> Summary:
        record = load_json(ctx.analysis_dir(ctx.plan.analyses[0]) / "theory.json")
        figs = [f"analysis/{f}" for f in figures] if record else []
        return Summary(figures=figs, claims=_claims(record, names))

    return summarize


COST = {"quick": "< 1 min on 2 CPU cores", "full": "≈ 5 min on 2 CPU cores"}
THEORY_FIGURES = (
    "multiclass_collapse",
    "theorem3_hessian_eigenvalues",
    "version_space",
    "fig5_sketch",
)

# Closed-form checks, each with its own stated tolerance: no seeds, no noise rule.
THEORY = recipe(
    "theory",
    _plan_for("theory"),
    _summarize_for(None, THEORY_FIGURES),
    COST,
    rule_version=1,
    families=("check",),
)
FIG5 = recipe(
    "fig5",
    _plan_for("fig5"),
    _summarize_for(SKETCH_CHECKS, ("fig5_sketch",)),
    COST,
    rule_version=1,
    families=("check",),
)
