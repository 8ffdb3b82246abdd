"""Table 1: clean and robust test error of constant / cosine / linear ε schedulers, with and
without periodic resets (PAS, a 3-snapshot ensemble), mean ± std over seeds.

full: the 15 recipes in `configs/` (appendix C.1), 3 seeds each. quick: MNIST rows as in
Fig. 4's quick sweep at Adam 1e-3 (the runs are shared; LeNet w=4, ε = 0.3), 2 seeds;
CIFAR-10 rows with VGG / ResNet18 at w=1 on 2,000 CIFAR-10 images for 8 epochs (PAS periods
[0, 4, 6, 8]), which needs the CIFAR-10 download. `--only task=mnist-lenet` runs the MNIST
rows alone.
"""

from __future__ import annotations

from pathlib import Path

from advland.experiments import paper
from advland.experiments.items_schedulers import EPS, mnist_job
from advland.experiments.jobs import TrainJob
from advland.experiments.recipe import Context, Plan, Summary, claim, recipe, table
from advland.experiments.stats import ensemble_errors, errors, fmt_mean_std, group, mean_std

SEEDS = {"full": (0, 1, 2), "quick": (0, 1)}
CIFAR_TASKS = ("cifar10-vgg", "cifar10-resnet18")
QUICK_CIFAR = (
    "data.train_limit=2000",
    "data.test_limit=500",
    "data.val_size=0",
    "train.val_every=0",
    "model.width=1",
    "train.epochs=8",
)
QUICK_LR = {  # the paper's learning-rate schedules, shrunk from 200 to 8 epochs
    "cifar10-vgg": ("lr_schedule.start=4", "lr_schedule.end=6"),
    "cifar10-resnet18": ("lr_schedule.milestones=[4,6]",),
}
PAS_PERIODS = {"full": "[0, 100, 150, 200]", "quick": "[0, 4, 6, 8]"}
QUICK_SETTINGS = {
    "mnist": "LeNet w=4, mnist-5k, 10 epochs, eps 0.3, Adam 1e-3 (Fig. 4's runs)",
    "cifar10": "VGG / ResNet18 w=1, 2,000 images, 8 epochs",
}
NO_RUNS: tuple[list[float], list[float]] = ([], [])  # (clean, robust errors) of an empty cell

Cells = dict[tuple[str, str, bool], tuple[list[float], list[float]]]


def _mnist(scale: str, sched: str, seed: int) -> TrainJob:
    if scale == "quick":  # identical to Fig. 4's quick run at lr 1e-3: shared
        return mnist_job(scale, sched, seed, ("optim.lr=0.001",), lr=0.001)
    tags = (("task", "mnist-lenet"), ("scheduler", sched), ("seed", seed))
    return TrainJob(f"mnist-lenet-{sched}.yaml", (f"train.seed={seed}",), tags)


def _cifar(scale: str, task: str, sched: str, periodic: bool, seed: int) -> TrainJob:
    sets: tuple[str, ...] = ()
    if scale == "quick":
        sets = (*QUICK_CIFAR, *QUICK_LR[task]) + (("train.periods=[0,4,6,8]",) if periodic else ())
    tags = (("task", task), ("scheduler", sched), ("periodic", periodic), ("seed", seed))
    name = f"{task}-{sched}{'-pas' if periodic else ''}.yaml"
    return TrainJob(name, (*sets, f"train.seed={seed}"), tags)


def table1_jobs(scale: str) -> tuple[TrainJob, ...]:
    seeds = SEEDS[scale]
    jobs = [_mnist(scale, s, seed) for s in paper.SCHEDULERS for seed in seeds]
    jobs += [
        _cifar(scale, t, s, p, seed)
        for t in CIFAR_TASKS
        for s in paper.SCHEDULERS
        for p in (False, True)
        for seed in seeds
    ]
    return tuple(jobs)


def labels(scale: str) -> dict[str, str]:
    """Row labels; the quick MNIST rows run at their own ε (the paper's is 0.4)."""
    out = dict(paper.TABLE1_TASKS)
    if scale == "quick":
        out["mnist-lenet"] = f"MNIST LeNet ε={EPS['quick']:g} (quick scale)"
    return out


def _task(job: TrainJob) -> str:
    return job.tag.get("task", "mnist-lenet")


def _plan(scale: str, root: Path) -> Plan:
    settings = {"seeds_per_row": len(SEEDS[scale]), "pas_periods": PAS_PERIODS[scale]}
    if scale == "quick":
        settings.update(QUICK_SETTINGS)
    return Plan(train=table1_jobs(scale), settings=settings, seeds=SEEDS[scale])


def cells(ctx: Context) -> Cells:
    """(task, scheduler, periodic) → (clean errors, robust errors) over seeds; PAS rows use
    the snapshot ensemble, as in the paper."""
    out = {}
    for (sched, periodic), rs in group(ctx.runs(), "scheduler", "periodic").items():
        for task in {_task(r.job) for r in rs}:
            sub = [r for r in rs if _task(r.job) == task]
            if periodic:
                clean = ensemble_errors(sub, "clean_error")
                robust = ensemble_errors(sub, "robust_error")
            else:
                clean, robust = errors(sub, "clean_error"), errors(sub)
            out[(task, sched, bool(periodic))] = (clean, robust)
    return out


def _table(found: Cells, tasks: list[str], names: dict[str, str]) -> dict:
    rows = []
    for task in tasks:
        for sched in paper.SCHEDULERS:
            row = [names[task], sched]
            for periodic in (False, True):
                clean, robust = found.get((task, sched, periodic), NO_RUNS)
                row += [fmt_mean_std(clean), fmt_mean_std(robust)]
            rows.append(row)
    name = "Table 1: test error (%) by ε scheduler, without / with periodic resets"
    return table(name, list(paper.TABLE1_COLUMNS), rows, paper.table1_paper(tuple(tasks)))


def scheduler_claims(
    found: Cells, tasks: list[str], names: dict[str, str] | None = None
) -> list[dict]:
    names = names or paper.TABLE1_TASKS
    out = []
    for task in tasks:
        out.append(_scheduler_claim(found, task, names[task]))
        if task in CIFAR_TASKS:
            out.append(_pas_claim(found, task))
    return out


def _scheduler_claim(found: Cells, task: str, label: str) -> dict:
    text = f"{label}: cosine and linear beat a constant ε on clean and robust error"
    runs = {s: found.get((task, s, False), NO_RUNS) for s in paper.SCHEDULERS}
    if any(not errs for pair in runs.values() for errs in pair):
        return claim(text, None, "missing runs")
    m = {s: (mean_std(clean)[0], mean_std(robust)[0]) for s, (clean, robust) in runs.items()}
    ok = all(m[s][i] < m["constant"][i] for s in ("cosine", "linear") for i in (0, 1))
    ev = "; ".join(f"{s} {v[0]:.2f}/{v[1]:.2f}" for s, v in m.items()) + " (clean/robust %)"
    return claim(text, ok, ev)


def _pas_claim(found: Cells, task: str) -> dict:
    text = f"{paper.TABLE1_TASKS[task]}: periodic resets + snapshot ensemble lower the robust error"
    pairs = {
        s: (found.get((task, s, False), NO_RUNS)[1], found.get((task, s, True), NO_RUNS)[1])
        for s in paper.SCHEDULERS
    }
    if any(not a or not b for a, b in pairs.values()):
        return claim(text, None, "missing runs")
    means = {s: (mean_std(a)[0], mean_std(b)[0]) for s, (a, b) in pairs.items()}
    ok = all(b < a for a, b in means.values())
    return claim(text, ok, "; ".join(f"{s} {a:.2f} → {b:.2f}" for s, (a, b) in means.items()))


def _summarize(ctx: Context) -> Summary:
    found = cells(ctx)
    tasks = [t for t in paper.TABLE1_TASKS if any(k[0] == t for k in found)]
    names = labels(ctx.scale)
    tables = [_table(found, tasks, names)] if tasks else []
    claims = scheduler_claims(found, tasks or list(paper.TABLE1_TASKS), names)
    return Summary(tables=tables, claims=claims)


COST = {
    "quick": "MNIST rows ≈ 6 min on 2 CPU cores (shares Fig. 4); CIFAR rows ≈ 1.5 h",
    "full": "45 runs: ≈ 200 GPU-hours",
}

TABLE1 = recipe("table1", _plan, _summarize, COST)
