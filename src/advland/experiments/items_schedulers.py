"""Fig. 4 (robust test error vs Adam learning rate for constant / linear / cosine ε),
Fig. 13 (learning-rate warmup with a constant ε instead) and Fig. 14 (LeNet width), all
on MNIST at ε = 0.4, mean ± std over seeds.

full: the paper's LeNet on MNIST (w=16 unless swept, 100 epochs, PGD with ε/0.01+10 steps
of 0.01; cosine ε_max 0.6, linear ε_max 0.8). The paper does not list Fig. 4's learning
rates; we sweep 1e-5 … 3e-3 on a half-decade grid. Fig. 13: warmup over the first 10
epochs to 1e-4, 3e-4, 1e-3, 5 seeds. Fig. 14: w ∈ {1, 2, 4, 8, 16} at Adam 1e-4.
quick: LeNet w=4 on the 4,000 mnist-5k digits, 10 epochs, PGD-10 with step ε/4, 2 seeds
(Fig. 14: w ∈ {1, 2, 4}, one seed), at ε = 0.3: at ε = 0.4 this small model ends as a
constant classifier under every schedule, so the comparison would show nothing
(docs/reproduce.md).
"""

from __future__ import annotations

from pathlib import Path

from advland.experiments.eps_models import QUICK_MNIST
from advland.experiments.jobs import TrainJob
from advland.experiments.recipe import Context, Plan, Summary, claim, recipe, table
from advland.experiments.stats import errors, fmt_mean_std, group, mean_std

SCHEDULERS = ("constant", "linear", "cosine")
EPS = {"full": 0.4, "quick": 0.3}
QUICK_EPOCHS = 10
LRS = {"full": (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3), "quick": (1e-3, 3e-3)}
SEEDS = {"full": (0, 1, 2, 3, 4), "quick": (0, 1)}
WARMUP_LRS = {"full": (1e-4, 3e-4, 1e-3), "quick": (1e-3, 3e-3)}
WARMUP_EPOCHS = {"full": 10, "quick": 2}
WIDTHS = {"full": (1, 2, 4, 8, 16), "quick": (1, 2, 4)}
WIDTH_LR = {"full": 1e-4, "quick": 1e-3}
WIDTH_SEEDS = {"full": SEEDS["full"], "quick": (0,)}  # quick: one seed per width
ERROR_AXIS = "robust test error (%)"

Series = dict[str, tuple[list, list, list]]  # scheduler → (x values, mean, std) over seeds


def mnist_job(
    scale: str, scheduler: str, seed: int, extra: tuple[str, ...] = (), **tags
) -> TrainJob:
    """One MNIST LeNet run from the paper's Table-1 recipe for `scheduler` (ε 0.4; quick 0.3)."""
    sets: tuple[str, ...] = ()
    if scale == "quick":
        eps = EPS[scale]
        sets = (
            *QUICK_MNIST,
            f"attack.eps={eps!r}",
            "attack.steps=10",
            f"attack.step_size={eps / 4!r}",
            f"train.epochs={QUICK_EPOCHS}",
        )
    sets += (*extra, f"train.seed={seed}")
    all_tags = (("task", "mnist-lenet"), ("scheduler", scheduler), *tags.items(), ("seed", seed))
    return TrainJob(f"mnist-lenet-{scheduler}.yaml", sets, all_tags)


def lr_sweep_jobs(scale: str) -> tuple[TrainJob, ...]:
    return tuple(
        mnist_job(scale, s, seed, (f"optim.lr={lr!r}",), lr=lr)
        for s in SCHEDULERS
        for lr in LRS[scale]
        for seed in SEEDS[scale]
    )


def _curves(ctx: Context, x_key: str) -> Series:
    """scheduler → (x values, mean robust error, std) over seeds."""
    series: Series = {}
    for (sched, x), runs in group(ctx.runs(), "scheduler", x_key).items():
        errs = errors(runs)
        if not errs:
            continue
        m, s = mean_std(errs)
        xs, ms, ss = series.setdefault(sched, ([], [], []))
        xs.append(x)
        ms.append(m)
        ss.append(s)
    return series


def _table(ctx: Context, x_key: str, x_name: str) -> dict:
    rows = []
    for (sched, x), runs in group(ctx.runs(), "scheduler", x_key).items():
        robust = errors(runs)
        diverged = sum(r.status == "diverged" for r in runs)
        clean = fmt_mean_std(errors(runs, "clean_error"))
        rows.append(
            [sched, f"{x:g}", clean, fmt_mean_std(robust), f"{len(robust)}/{len(runs)}", diverged]
        )
    cols = ["ε scheduler", x_name, "clean error %", "robust error %", "runs", "diverged"]
    eps = ctx.plan.settings["eps"]
    return table(f"Test error at ε={eps} vs {x_name} (mean ± std over seeds)", cols, rows)


def _plot(series: Series, stem: Path, xlabel: str, **kwargs) -> None:
    """Robust test error against a swept setting on a log axis, one line per label."""
    from advland.reporting.plot_sweep import plot_sweep

    plot_sweep(series, stem, xlabel, ERROR_AXIS, log_x=True, **kwargs)


def warmup_claims(series: dict) -> list[dict]:
    """Fig. 4: warmup beats constant ε at its best lr and over the whole lr range."""
    texts = (
        "cosine and linear ε warmup reach a lower robust error than a constant ε (best learning "
        "rate)",
        "cosine and linear ε warmup are less sensitive to the learning rate (lower mean error "
        "over the sweep)",
    )
    if "constant" not in series or not {"cosine", "linear"} <= set(series):
        return [claim(t, None, "missing scheduler results") for t in texts]
    best = {k: min(v[1]) for k, v in series.items()}
    avg = {k: sum(v[1]) / len(v[1]) for k, v in series.items()}
    return [
        claim(texts[0], _both_beat_constant(best), "best robust error: " + _percents(best)),
        claim(texts[1], _both_beat_constant(avg), "mean over learning rates: " + _percents(avg)),
    ]


def _both_beat_constant(error: dict[str, float]) -> bool:
    return error["cosine"] < error["constant"] and error["linear"] < error["constant"]


def _percents(error: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}%" for k, v in error.items())


def _plan_fig4(scale: str, root: Path) -> Plan:
    settings = {
        "eps": EPS[scale],
        "learning_rates": list(LRS[scale]),
        "schedulers": list(SCHEDULERS),
    }
    return Plan(train=lr_sweep_jobs(scale), settings=settings, seeds=SEEDS[scale])


def _summarize_fig4(ctx: Context) -> Summary:
    series = _curves(ctx, "lr")
    if series:
        _plot(series, ctx.out / "fig4", "Adam learning rate")
    figures = ["fig4"] if series else []
    tables = [_table(ctx, "lr", "learning rate")]
    return Summary(figures=figures, tables=tables, claims=warmup_claims(series))


# -------------------------------------------------------------------- Fig. 13: lr warmup


def lr_warmup_jobs(scale: str) -> tuple[TrainJob, ...]:
    warm = f"lr_schedule.warmup={WARMUP_EPOCHS[scale]}"
    return tuple(
        mnist_job(scale, "constant", seed, (f"optim.lr={lr!r}", warm), lr=lr, warmup="lr")
        for lr in WARMUP_LRS[scale]
        for seed in SEEDS[scale]
    )


def _plan_fig13(scale: str, root: Path) -> Plan:
    # The reference line: the best ε-warmup result of the Fig. 4 sweep (shared runs).
    settings = {
        "eps": EPS[scale],
        "final_learning_rates": list(WARMUP_LRS[scale]),
        "lr_warmup_epochs": WARMUP_EPOCHS[scale],
    }
    runs = lr_warmup_jobs(scale) + lr_sweep_jobs(scale)
    return Plan(train=runs, settings=settings, seeds=SEEDS[scale])


def _summarize_fig13(ctx: Context) -> Summary:
    runs = ctx.runs()
    warm = [r for r in runs if r.tag.get("warmup") == "lr"]
    eps_warm = [r for r in runs if r.tag["scheduler"] != "constant" and "warmup" not in r.tag]
    text = (
        "learning-rate warmup with a constant ε does not match ε warmup at any final learning rate"
    )
    by_lr = {lr: errors(rs) for (lr,), rs in group(warm, "lr").items()}
    by_cfg = [errors(rs) for rs in group(eps_warm, "scheduler", "lr").values()]
    best_eps = min((mean_std(e)[0] for e in by_cfg if e), default=None)
    if best_eps is None or not any(by_lr.values()):
        return Summary(claims=[claim(text, None, "missing runs")])
    means = {lr: mean_std(e)[0] for lr, e in by_lr.items() if e}
    stds = [mean_std(by_lr[k])[1] for k in means]
    series = {"lr warmup, constant ε": (list(means), list(means.values()), stds)}
    reference = ("best ε warmup (Fig. 4 sweep)", best_eps)
    _plot(series, ctx.out / "fig13", "final learning rate", reference=reference)
    ev = ", ".join(f"lr {k:g}: {v:.1f}%" for k, v in means.items())
    ev += f"; best ε warmup {best_eps:.1f}%"
    return Summary(figures=["fig13"], claims=[claim(text, min(means.values()) > best_eps, ev)])


# -------------------------------------------------------------------- Fig. 14: width


def width_jobs(scale: str) -> tuple[TrainJob, ...]:
    lr = WIDTH_LR[scale]
    return tuple(
        mnist_job(scale, s, seed, (f"model.width={w}", f"optim.lr={lr!r}"), width=w)
        for s in SCHEDULERS
        for w in WIDTHS[scale]
        for seed in WIDTH_SEEDS[scale]
    )


def _plan_fig14(scale: str, root: Path) -> Plan:
    settings = {"eps": EPS[scale], "widths": list(WIDTHS[scale])}
    return Plan(train=width_jobs(scale), settings=settings, seeds=WIDTH_SEEDS[scale])


def _summarize_fig14(ctx: Context) -> Summary:
    series = _curves(ctx, "width")
    text = "cosine and linear ε warmup beat a constant ε at every width"
    if not {"constant", "cosine", "linear"} <= set(series):
        return Summary(claims=[claim(text, None, "missing scheduler results")])
    _plot(series, ctx.out / "fig14", "LeNet width factor w")
    by_width = {s: dict(zip(*series[s][:2], strict=True)) for s in series}
    const = by_width["constant"]
    ok = all(
        m < const.get(w, float("inf")) for s in ("cosine", "linear") for w, m in by_width[s].items()
    )
    ev = "; ".join(
        f"{s}: " + ", ".join(f"w={w}: {m:.1f}%" for w, m in errs.items())
        for s, errs in by_width.items()
    )
    tables = [_table(ctx, "width", "width")]
    return Summary(figures=["fig14"], tables=tables, claims=[claim(text, ok, ev)])


COST_FIG4 = {"quick": "≈ 12 min on 2 CPU cores (12 runs)", "full": "≈ 90 runs × 2 GPU-hours"}
COST_FIG13 = {
    "quick": "≈ 8 min on 2 CPU cores after Fig. 4 (its runs are shared), ≈ 20 min alone",
    "full": "≈ 15 runs × 2 GPU-hours + Fig. 4",
}
COST_FIG14 = {"quick": "≈ 8 min on 2 CPU cores (9 runs)", "full": "≈ 75 runs × 1-2 GPU-hours"}

FIG4 = recipe("fig4", _plan_fig4, _summarize_fig4, COST_FIG4)
FIG13 = recipe("fig13", _plan_fig13, _summarize_fig13, COST_FIG13)
FIG14 = recipe("fig14", _plan_fig14, _summarize_fig14, COST_FIG14)
