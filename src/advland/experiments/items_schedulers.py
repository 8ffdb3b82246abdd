"""Fig. 4 (robust test error vs Adam learning rate for constant / linear / cosine ε),
Fig. 13 (learning-rate warmup with a constant ε instead) and Fig. 14 (LeNet width), all
on MNIST at ε = 0.4, mean ± std over seeds.

full: the paper's LeNet on MNIST (w=16 unless swept, 100 epochs, PGD with ε/0.01+10 steps
of 0.01; cosine ε_max 0.6, linear ε_max 0.8). The paper does not list Fig. 4's learning
rates; we sweep 1e-5 … 3e-3 on a half-decade grid. Fig. 13: warmup over the first 10
epochs to 1e-4, 3e-4, 1e-3, 5 seeds. Fig. 14: w ∈ {1, 2, 4, 8, 16} at Adam 1e-4.
quick: LeNet w=4 on the 4,000 mnist-5k digits, 10 epochs, PGD-10 with step ε/4, 3 seeds
(Fig. 14: w ∈ {1, 2, 4}), at ε = 0.3: at ε = 0.4 this small model ends as a constant
classifier under every schedule, so the comparison would show nothing (docs/reproduce.md).
Every run ends with an AutoAttack evaluation (`EVAL_LIMIT` seeded test points at quick
scale); the verdicts use that robust error, with Welch tests between schedulers.
"""

from __future__ import annotations

from pathlib import Path

from advland.experiments import history
from advland.experiments.eps_models import QUICK_MNIST
from advland.experiments.jobs import TrainJob
from advland.experiments.recipe import (
    RULE_V1,
    Context,
    Plan,
    RunResult,
    Summary,
    claim,
    earlier_verdict,
    recipe,
    table,
)
from advland.experiments.stats import (
    FAMILIES,
    Arm,
    arm,
    combine,
    directional,
    errors,
    fmt_mean_std,
    group,
    mean_std,
)

SCHEDULERS = ("constant", "linear", "cosine")
EPS = {"full": 0.4, "quick": 0.3}
QUICK_EPOCHS = 10
LRS = {"full": (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3), "quick": (1e-3, 3e-3)}
SEEDS = {"full": (0, 1, 2, 3, 4), "quick": (0, 1, 2)}
WARMUP_LRS = {"full": (1e-4, 3e-4, 1e-3), "quick": (1e-3, 3e-3)}
WARMUP_EPOCHS = {"full": 10, "quick": 2}
WIDTHS = {"full": (1, 2, 4, 8, 16), "quick": (1, 2, 4)}
WIDTH_LR = {"full": 1e-4, "quick": 1e-3}
WIDTH_SEEDS = {"full": SEEDS["full"], "quick": (0, 1, 2)}
# The robust error every item reports: AutoAttack (APGD-CE, APGD-T, FAB-T, Square) at the end
# of each run, on a seeded subset of the test set at quick scale (its CPU cost,
# docs/reproduce.md); summary.json keeps the per-epoch `quick` (PGD-20) number beside it.
EVAL_LIMIT = {"full": 1000, "quick": 100}


def eval_overrides(scale: str) -> tuple[str, ...]:
    """`eval.suite=autoattack` on `EVAL_LIMIT[scale]` seeded test points."""
    return ("eval.suite=autoattack", f"eval.limit={EVAL_LIMIT[scale]}")


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
    sets += (*eval_overrides(scale), *extra, f"train.seed={seed}")
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


Arms = dict[str, dict[float, Arm]]  # scheduler → x (lr or width) → robust errors over seeds


def _arms(runs: list[RunResult], x_key: str) -> Arms:
    out: Arms = {}
    for (sched, x), rs in group(runs, "scheduler", x_key).items():
        out.setdefault(sched, {})[x] = arm(rs)
    return out


def robust_label(runs: list[RunResult]) -> str:
    """The robust-error column's name: the suite and test-subset size the runs report."""
    done = [r.summary for r in runs if "suite" in r.summary]
    if not done:
        return "robust error %"
    suites = sorted({s["suite"] for s in done})
    sizes = sorted({s.get("n_test", 0) for s in done})
    n = "/".join(str(x) for x in sizes)
    return f"robust error % ({'/'.join(suites)}, n={n} test points)"


def quick_errors(runs: list[RunResult]) -> list[float]:
    """The `quick` (PGD-20) robust error recorded beside a stronger suite's, if any."""
    return [
        float(r.summary["suite_errors"]["quick"])
        for r in runs
        if r.status in ("completed", "sanity-failed")
        and "quick" in r.summary.get("suite_errors", {})
        and r.summary.get("suite") != "quick"
    ]


def _table(ctx: Context, x_key: str, x_name: str) -> dict:
    runs = ctx.runs()
    rows = []
    for (sched, x), rs in group(runs, "scheduler", x_key).items():
        robust, clean = arm(rs), arm(rs, "clean_error")
        rows.append(
            [
                sched,
                f"{x:g}",
                fmt_mean_std(clean.values),
                fmt_mean_std(robust.values),
                fmt_mean_std(quick_errors(rs)),
                f"{robust.n}/{len(rs)}",
                robust.diverged,
            ]
        )
    cols = [
        "ε scheduler",
        x_name,
        "clean error %",
        robust_label(runs),
        "robust error % (quick: PGD-20, labelled)",
        "n (seeds)",
        "diverged (counted as 90%)",
    ]
    eps = ctx.plan.settings["eps"]
    return table(f"Test error at ε={eps} vs {x_name} (mean ± std over seeds)", cols, rows)


def _plot(series: Series, stem: Path, xlabel: str, **kwargs) -> None:
    """Robust test error against a swept setting on a log axis, one line per label."""
    from advland.reporting.plot_sweep import plot_sweep

    plot_sweep(series, stem, xlabel, ERROR_AXIS, log_x=True, **kwargs)


WARMUP_TEXTS = (
    "cosine and linear ε warmup reach a lower robust error than a constant ε (best learning rate)",
    "cosine and linear ε warmup are less sensitive to the learning rate (lower mean error "
    "over the sweep)",
)


def warmup_claims(arms: Arms) -> list[dict]:
    """Fig. 4: warmup beats constant ε at each scheduler's best learning rate (lowest mean),
    and on the per-seed mean over the learning rates; Welch tests, cosine AND linear."""
    if "constant" not in arms or not {"cosine", "linear"} <= set(arms):
        return [claim(t, None, "missing scheduler results") for t in WARMUP_TEXTS]
    best = {s: min(a.values(), key=lambda x: mean_std(x.values)[0]) for s, a in arms.items()}
    avg = {s: Arm(_seed_means(a)) for s, a in arms.items()}
    return [
        beat_constant(WARMUP_TEXTS[0], best, "best robust error"),
        beat_constant(WARMUP_TEXTS[1], avg, "mean over learning rates, per seed"),
    ]


def _seed_means(by_x: dict[float, Arm]) -> list[float]:
    """Per seed position, the mean over the x values (each arm lists its seeds in order)."""
    n = min(a.n for a in by_x.values())
    return [sum(a.values[i] for a in by_x.values()) / len(by_x) for i in range(n)]


def beat_constant(text: str, arms: dict[str, Arm], what: str) -> dict:
    """ "cosine and linear beat constant" on `arms` (scheduler → robust errors)."""
    tests = {s: directional(arms[s].values, arms["constant"].values) for s in ("cosine", "linear")}
    ev = (
        "; ".join(f"{s} {a.text()}" for s, a in arms.items())
        + "; "
        + "; ".join(f"{s} vs constant: {t.text()}" for s, t in tests.items())
    )
    return claim(
        text,
        combine(t.verdict for t in tests.values()),
        f"{what}: {ev}",
        family="directional",
        rule=f"directional, cosine and linear each: {FAMILIES['directional']}",
        earlier=(earlier_verdict(1, combine(t.means_verdict for t in tests.values())),),
    )


def _plan_fig4(scale: str, root: Path) -> Plan:
    settings = {
        "eps": EPS[scale],
        "learning_rates": list(LRS[scale]),
        "schedulers": list(SCHEDULERS),
        "eval": f"autoattack on {EVAL_LIMIT[scale]} seeded test points",
    }
    return Plan(train=lr_sweep_jobs(scale), settings=settings, seeds=SEEDS[scale])


def _summarize_fig4(ctx: Context) -> Summary:
    series = _curves(ctx, "lr")
    if series:
        _plot(series, ctx.out / "fig4", "Adam learning rate")
    figures = ["fig4"] if series else []
    tables = [_table(ctx, "lr", "learning rate")]
    return Summary(figures=figures, tables=tables, claims=warmup_claims(_arms(ctx.runs(), "lr")))


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
        "eval": f"autoattack on {EVAL_LIMIT[scale]} seeded test points",
    }
    runs = lr_warmup_jobs(scale) + lr_sweep_jobs(scale)
    return Plan(train=runs, settings=settings, seeds=SEEDS[scale])


FIG13_TEXT = (
    "learning-rate warmup with a constant ε does not match ε warmup at any final learning rate"
)


def _summarize_fig13(ctx: Context) -> Summary:
    runs = ctx.runs()
    warm = [r for r in runs if r.tag.get("warmup") == "lr"]
    eps_warm = [r for r in runs if r.tag["scheduler"] != "constant" and "warmup" not in r.tag]
    by_lr = {lr: arm(rs) for (lr,), rs in group(warm, "lr").items()}
    by_cfg = {k: arm(rs) for k, rs in group(eps_warm, "scheduler", "lr").items()}
    by_cfg = {k: a for k, a in by_cfg.items() if a.n}
    by_lr = {k: a for k, a in by_lr.items() if a.n}
    if not by_cfg or not by_lr:
        return Summary(claims=[claim(FIG13_TEXT, None, "missing runs")])
    key, best = min(by_cfg.items(), key=lambda kv: mean_std(kv[1].values)[0])
    means = {lr: mean_std(a.values)[0] for lr, a in by_lr.items()}
    stds = [mean_std(a.values)[1] for a in by_lr.values()]
    series = {"lr warmup, constant ε": (list(means), list(means.values()), stds)}
    best_m = mean_std(best.values)[0]
    _plot(
        series,
        ctx.out / "fig13",
        "final learning rate",
        reference=("best ε warmup (Fig. 4 sweep)", best_m),
    )
    tests = {lr: directional(best.values, a.values) for lr, a in by_lr.items()}
    ev = "; ".join(f"lr {lr:g}: {a.text()}%, {tests[lr].text()}" for lr, a in by_lr.items())
    ev += f"; best ε warmup ({key[0]}, lr {key[1]:g}): {best.text()}%"
    c = claim(
        FIG13_TEXT,
        combine(t.verdict for t in tests.values()),
        ev,
        family="directional",
        rule=f"directional at every final lr: {FAMILIES['directional']}",
        earlier=(earlier_verdict(1, combine(t.means_verdict for t in tests.values())),),
    )
    return Summary(figures=["fig13"], claims=[c])


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
    settings = {
        "eps": EPS[scale],
        "widths": list(WIDTHS[scale]),
        "eval": f"autoattack on {EVAL_LIMIT[scale]} seeded test points",
    }
    return Plan(train=width_jobs(scale), settings=settings, seeds=WIDTH_SEEDS[scale])


FIG14_TEXT = "cosine and linear ε warmup beat a constant ε at every width"


def width_claim(arms: Arms) -> dict:
    """Fig. 14: at every width, cosine and linear each beat constant (Welch)."""
    if not {"constant", "cosine", "linear"} <= set(arms):
        return claim(FIG14_TEXT, None, "missing scheduler results")
    const = arms["constant"]
    tests = {
        (s, w): directional(a.values, const[w].values if w in const else [])
        for s in ("cosine", "linear")
        for w, a in arms[s].items()
    }
    ev = "; ".join(
        f"{s}: " + ", ".join(f"w={w:g}: {a.text()}%" for w, a in by_w.items())
        for s, by_w in arms.items()
    )
    ev += "; " + "; ".join(f"{s} w={w:g}: {t.text()}" for (s, w), t in tests.items())
    return claim(
        FIG14_TEXT,
        combine(t.verdict for t in tests.values()),
        ev,
        family="directional",
        rule=f"directional at every width, cosine and linear each: {FAMILIES['directional']}",
        earlier=(earlier_verdict(1, combine(t.means_verdict for t in tests.values())),),
    )


def _summarize_fig14(ctx: Context) -> Summary:
    series = _curves(ctx, "width")
    arms = _arms(ctx.runs(), "width")
    if not {"constant", "cosine", "linear"} <= set(series):
        return Summary(claims=[width_claim(arms)])
    _plot(series, ctx.out / "fig14", "LeNet width factor w")
    tables = [_table(ctx, "width", "width")]
    return Summary(figures=["fig14"], tables=tables, claims=[width_claim(arms)])


# Quick: a run ≈ 1.6 min of training plus ≈ 1.3 CPU-min of AutoAttack on 100 points
# (measured, docs/reproduce.md), two workers on an otherwise idle 2-core CPU.
COST_FIG4 = {
    "quick": "≈ 30 min on 2 CPU cores (18 runs, AutoAttack on 100 points each)",
    "full": "≈ 90 runs × 2 GPU-hours",
}
COST_FIG13 = {
    "quick": "≈ 15 min on 2 CPU cores after Fig. 4 (its runs are shared), ≈ 45 min alone",
    "full": "≈ 15 runs × 2 GPU-hours + Fig. 4",
}
COST_FIG14 = {
    "quick": "≈ 35 min on 2 CPU cores (27 runs, AutoAttack on 100 points each)",
    "full": "≈ 75 runs × 1-2 GPU-hours",
}

FIG4 = recipe(
    "fig4",
    _plan_fig4,
    _summarize_fig4,
    COST_FIG4,
    config_version=3,
    history=(
        history.SCHEDULER_EPS,
        RULE_V1,
        history.seeds_change(
            3,
            "two seeds" + history.SCHEDULER_EVAL,
            "2/2 reproduced",
            "PGD-20 robust error, best lr: constant 75.1%, linear 33.3%, cosine 36.3%; mean "
            "over the lrs 82.5 / 45.5 / 48.4% (n = 2)",
        ),
    ),
)
FIG13 = recipe(
    "fig13",
    _plan_fig13,
    _summarize_fig13,
    COST_FIG13,
    config_version=3,
    history=(
        history.SCHEDULER_EPS,
        RULE_V1,
        history.seeds_change(
            3,
            "two seeds" + history.SCHEDULER_EVAL,
            "1/1 reproduced",
            "PGD-20 robust error: lr warmup 74.7% (lr 1e-3), 78.7% (3e-3) vs 33.3% for the best "
            "ε warmup (n = 2)",
        ),
    ),
)
FIG14 = recipe(
    "fig14",
    _plan_fig14,
    _summarize_fig14,
    COST_FIG14,
    config_version=3,
    history=(
        history.SCHEDULER_EPS,
        RULE_V1,
        history.seeds_change(
            3,
            "one seed" + history.SCHEDULER_EVAL,
            "1/1 reproduced",
            "PGD-20 robust error constant / linear / cosine: w=1 90.0 / 81.1 / 84.1%, w=2 "
            "90.0 / 70.4 / 74.2%, w=4 67.3 / 60.6 / 62.2% (n = 1)",
        ),
    ),
)
