"""Fig. 1 / 8 (gradient norm, robust error, ‖θ−θ0‖ over the first and last minibatches) and
Fig. 11 (training-loss learning curves), for the ε-sweep models of `eps_models`."""

from __future__ import annotations

from pathlib import Path

from advland.experiments.eps_models import cifar_eps_runs, mnist_eps_runs
from advland.experiments.recipe import Context, Plan, Recipe, Summary, claim
from advland.experiments.stats import fmt_series, ordered

# The paper's windows (first / last N minibatches); quick runs have 120 (ResNet: 1,000
# digits, 15 epochs × 8) and 256 (LeNet: mnist-5k, 8 × 32) minibatches in all.
WINDOWS = {
    ("cifar", "full"): 2000,
    ("mnist", "full"): 500,
    ("cifar", "quick"): 30,
    ("mnist", "quick"): 60,
}
QUICK_WINDOW = 60


def _runs(task: str, scale: str):
    return cifar_eps_runs(scale) if task == "cifar" else mnist_eps_runs(scale)


def _plan_for(task: str):
    def plan(scale: str, root: Path) -> Plan:
        window = WINDOWS.get((task, scale), QUICK_WINDOW)
        return Plan(train=_runs(task, scale), settings={"window": window}, seeds=(0,))

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
        claim(EARLY_GRAD, ordered(early, increasing=False), "mean ‖∇‖, first window: " + fmt_series(eps, early)),
        claim(EARLY_ERR, ordered(err, increasing=True), "mean robust training error %, first window: " + fmt_series(eps, err)),
        claim(EARLY_MOVE, ordered(moved, increasing=False), "‖θ−θ0‖ after the first window: " + fmt_series(eps, moved)),
        claim(LATE_GRAD, ordered(late[1:], increasing=True), "mean ‖∇‖, last window (ε>0): " + fmt_series(eps[1:], late[1:])),
    ]  # fmt: skip


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
    return claim(text, ordered(span, increasing=False), "loss range: " + fmt_series(eps, span))


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

FIG1 = Recipe(
    name="fig1",
    title="Gradient norm, robust training error and ‖θ−θ0‖ over the first/last minibatches (CIFAR-10 ResNet18)",
    claim="Under a larger ε the early gradients are smaller and θ leaves its initial plateau more slowly; at the end the gradient norm grows with ε.",
    plan=_plan_for("cifar"),
    summarize=_summarize_for("cifar"),
    cost=COST,
)  # fmt: skip

FIG8 = Recipe(
    name="fig8",
    title="Gradient norm, robust training error and ‖θ−θ0‖ over the first/last minibatches (MNIST LeNet)",
    claim="The MNIST counterpart of Fig. 1, with the same observations.",
    plan=_plan_for("mnist"),
    summarize=_summarize_for("mnist"),
    cost=COST_MNIST,
)  # fmt: skip

FIG11 = Recipe(
    name="fig11",
    title="Training-loss learning curves under several ε (CIFAR-10 and MNIST)",
    claim="The adversarial training loss has a similar magnitude for every ε, and a smaller range under larger ε.",
    plan=_plan_fig11,
    summarize=_summarize_fig11,
    cost={"quick": "≈ 7 min on 2 CPU cores", "full": "≈ 40 GPU-hours"},
)  # fmt: skip
