"""Fig. 1 / 8 (gradient norm, robust error, ‖θ−θ0‖ over the first and last minibatches) and
Fig. 11 (training-loss learning curves), for the ε-sweep models of `eps_models`."""

from __future__ import annotations

from pathlib import Path

from advland.experiments.eps_models import cifar_eps_runs, eps_runs, mnist_eps_runs
from advland.experiments.recipe import Context, Plan, Summary, claim, recipe
from advland.experiments.stats import trend_claim

# The paper's windows (first / last N minibatches); quick runs have 120 (ResNet: 1,000
# digits, 15 epochs × 8) and 256 (LeNet: mnist-5k, 8 × 32) minibatches in all.
WINDOWS = {
    ("cifar", "full"): 2000,
    ("mnist", "full"): 500,
    ("cifar", "quick"): 30,
    ("mnist", "quick"): 60,
}
QUICK_WINDOW = 60


def _plan_for(task: str):
    def plan(scale: str, root: Path) -> Plan:
        window = WINDOWS.get((task, scale), QUICK_WINDOW)
        return Plan(train=eps_runs(task, scale), settings={"window": window}, seeds=(0,))

    return plan


def _dynamics(ctx: Context, task: str) -> tuple[dict, list[str]]:
    from advland.analysis.dynamics import DynamicsConfig, training_dynamics

    runs = [r for r in ctx.runs() if r.tag["task"] == task and r.status == "completed"]
    if len(runs) < 2:
        return {"runs": []}, []
    cfg = DynamicsConfig(window=ctx.plan.settings["window"])
    result = training_dynamics([r.path for r in runs], cfg, ctx.out / task)
    return result, [f"{task}/dynamics", f"{task}/learning_curves"]


def _mean(v: list[float]) -> float:
    return sum(v) / max(len(v), 1)


def gradient_claims(data: list[dict]) -> list[dict]:
    """The section 4.1 claims, judged on the per-ε series (sorted by ε)."""
    if len(data) < 2:
        why = "fewer than two completed runs"
        return [claim(t, None, why) for t in (EARLY_GRAD, EARLY_ERR, EARLY_MOVE, LATE_GRAD)]
    eps = [d["eps"] for d in data]
    early = [_mean(d["first_grad_norm"]) for d in data]
    err = [_mean(d["first_robust_error"]) for d in data]
    moved = [d["first_dist_init"][-1] for d in data]
    late = [_mean(d["last_grad_norm"]) for d in data]
    return [
        trend_claim(EARLY_GRAD, "mean ‖∇‖, first window", eps, early, False),
        trend_claim(EARLY_ERR, "mean robust training error %, first window", eps, err, True),
        trend_claim(EARLY_MOVE, "‖θ−θ0‖ after the first window", eps, moved, False),
        trend_claim(LATE_GRAD, "mean ‖∇‖, last window (ε>0)", eps[1:], late[1:], True),
    ]


EARLY_GRAD = "larger ε gives smaller gradient norms early in training"
# Fig. 1b: the robust training error (at each run's own ε) falls more slowly under larger ε.
EARLY_ERR = "larger ε keeps the robust training error high for longer early in training"
EARLY_MOVE = "larger ε moves θ more slowly from θ0 (slower escape from the initial plateau)"
LATE_GRAD = "at the end of training the gradient norm grows with ε > 0 (Theorem 2: scattering)"


def _summarize_for(task: str):
    def summarize(ctx: Context) -> Summary:
        result, figures = _dynamics(ctx, task)
        return Summary(figures=figures, claims=gradient_claims(result["runs"]))

    return summarize


def loss_range_claim(data: list[dict]) -> dict:
    text = "the training loss spans a smaller range under larger ε (Fig. 11)"
    if len(data) < 2:
        return claim(text, None, "fewer than two completed runs")
    eps = [d["eps"] for d in data]
    span = [max(d["train_loss"]) - min(d["train_loss"]) for d in data]
    return trend_claim(text, "loss range", eps, span, False)


def _plan_fig11(scale: str, root: Path) -> Plan:
    window = QUICK_WINDOW if scale == "quick" else 500
    runs = mnist_eps_runs(scale) + cifar_eps_runs(scale)
    return Plan(train=runs, settings={"window": window}, seeds=(0,))


def _summarize_fig11(ctx: Context) -> Summary:
    figures, claims = [], []
    for task in ("cifar", "mnist"):
        result, figs = _dynamics(ctx, task)
        figures += [f for f in figs if f.endswith("learning_curves")]
        c = loss_range_claim(result["runs"])
        claims.append({**c, "claim": f"{task}: {c['claim']}"})
    return Summary(figures=figures, claims=claims)


COST = {"quick": "≈ 4 min on 2 CPU cores", "full": "≈ 30 GPU-hours (ResNet18 ×4)"}
COST_MNIST = {"quick": "≈ 3 min on 2 CPU cores", "full": "≈ 10 GPU-hours (LeNet-16 ×5)"}
COST_FIG11 = {"quick": "≈ 7 min on 2 CPU cores", "full": "≈ 40 GPU-hours"}

FIG1 = recipe("fig1", _plan_for("cifar"), _summarize_for("cifar"), COST)
FIG8 = recipe("fig8", _plan_for("mnist"), _summarize_for("mnist"), COST_MNIST)
FIG11 = recipe("fig11", _plan_fig11, _summarize_fig11, COST_FIG11)
