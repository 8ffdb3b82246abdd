"""Reproduction recipes: every item plans and validates at both scales, the full scale
matches the paper's appendix C.1, and the aggregation / verdict rules are right."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from advland.config import build_config
from advland.errors import UserError
from advland.experiments import paper
from advland.experiments.jobs import TrainJob
from advland.experiments.recipe import Plan, RunResult
from advland.experiments.registry import RECIPES, get_recipe
from advland.experiments.runner import dry_run, parse_only, select
from advland.experiments.stats import errors, fmt_mean_std, mean_std, ordered

EIGHT = 8 / 255


def test_every_paper_item_has_a_recipe():
    assert list(RECIPES) == sorted(RECIPES, key=paper.ITEM_NAMES.index)
    assert set(RECIPES) == set(paper.ITEM_NAMES)
    for r in RECIPES.values():
        assert r.title and r.claim and set(r.cost) == {"quick", "full"}


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_every_recipe_validates(tmp_path, scale):
    for name, recipe in RECIPES.items():
        lines = dry_run(recipe, scale, tmp_path)
        assert lines, name
        assert all(line.startswith("advland ") for line in lines)
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


def _full_configs(item: str):
    plan = RECIPES[item].plan("full", Path("/tmp/unused"))
    return [(j, build_config(j.config_path(), list(j.overrides))) for j in plan.train]


def _check_mnist(cfg, eps: float) -> None:
    # Appendix C.1: LeNet, 100 epochs, Adam; PGD step 0.01 with eps/0.01 + 10 iterations.
    assert (cfg.data.name, cfg.model.name, cfg.train.epochs) == ("mnist", "lenet", 100)
    assert cfg.optim.name == "adam" and cfg.attack.eps == pytest.approx(eps)
    assert cfg.attack.step_size == 0.01 and cfg.attack.steps == round(eps / 0.01) + 10
    assert cfg.eps_schedule.eps_min == 0.0
    if cfg.eps_schedule.kind in ("cosine", "linear"):
        assert cfg.eps_schedule.eps_max == {"cosine": 0.6, "linear": 0.8}[cfg.eps_schedule.kind]


def _check_cifar(cfg) -> None:
    assert (cfg.data.name, cfg.model.width, cfg.train.epochs) == ("cifar10", 8, 200)
    assert cfg.attack.steps == 10
    assert cfg.attack.step_size == pytest.approx(cfg.attack.eps / 4 or 0.01)
    if cfg.model.name == "resnet18":  # SGD Nesterov 0.9, lr 0.1, /10 at 100 and 150
        assert (cfg.optim.name, cfg.optim.lr, cfg.optim.momentum, cfg.optim.nesterov) == (
            "sgd", 0.1, 0.9, True)  # fmt: skip
        assert (cfg.lr_schedule.kind, list(cfg.lr_schedule.milestones)) == ("multistep", [100, 150])
        assert cfg.lr_schedule.gamma == 0.1
    else:  # VGG: Adam 1e-3 decayed exponentially to 1e-4 between epochs 100 and 150
        assert (cfg.model.name, cfg.optim.name, cfg.optim.lr) == ("vgg", "adam", 1e-3)
        lr = cfg.lr_schedule
        assert (lr.kind, lr.final_lr, lr.start, lr.end) == ("exponential", 1e-4, 100, 150)
    if cfg.eps_schedule.kind != "constant":
        assert cfg.eps_schedule.eps_max == pytest.approx(16 / 255)


def test_full_table1_matches_appendix_c1():
    configs = _full_configs("table1")
    assert len(configs) == 45  # 15 rows × 3 seeds
    for job, cfg in configs:
        if cfg.data.name == "mnist":
            _check_mnist(cfg, 0.4)
            assert (cfg.model.width, cfg.optim.lr, list(cfg.train.periods)) == (16, 1e-4, [])
        else:
            _check_cifar(cfg)
            assert cfg.attack.eps == pytest.approx(EIGHT) and cfg.optim.weight_decay == 1e-3
            periods = [0, 100, 150, 200] if job.tag["periodic"] else []
            assert list(cfg.train.periods) == periods


def test_full_section4_models_match_appendix_c1():
    for item in ("fig1", "fig2", "fig3", "fig8", "fig9", "fig10", "fig11", "fig12", "fig15"):
        for job, cfg in _full_configs(item):
            if job.tag["task"] == "mnist":
                _check_mnist(cfg, job.tag["eps"])
                assert (cfg.model.width, cfg.optim.lr) == (16, 1e-4)
                assert job.tag["eps"] in (0.0, 0.1, 0.2, 0.3, 0.4)
            else:
                _check_cifar(cfg)
                assert cfg.model.name == "resnet18"
                assert job.tag["eps"] * 255 == pytest.approx(round(job.tag["eps"] * 255))


def test_full_scheduler_sweeps_match_the_paper():
    fig4 = _full_configs("fig4")
    for job, cfg in fig4:
        _check_mnist(cfg, 0.4)
        assert cfg.optim.lr == job.tag["lr"] and cfg.model.width == 16
    assert {j.tag["scheduler"] for j, _ in fig4} == {"constant", "linear", "cosine"}
    warm = [(j, c) for j, c in _full_configs("fig13") if j.tag.get("warmup") == "lr"]
    assert sorted({c.optim.lr for _, c in warm}) == [1e-4, 3e-4, 1e-3]  # appendix C.2.3
    assert all(c.lr_schedule.warmup == 10 and c.eps_schedule.kind == "constant" for _, c in warm)
    assert len({j.tag["seed"] for j, _ in warm}) == 5  # "We run each experiment 5 times"
    fig14 = _full_configs("fig14")
    assert sorted({c.model.width for _, c in fig14}) == [1, 2, 4, 8, 16]
    assert {c.optim.lr for _, c in fig14} == {1e-4}  # appendix C.2.4


def test_quick_runs_are_shared_between_items():
    fig2 = {j.key for j in RECIPES["fig2"].plan("quick", Path("r")).train}
    fig1 = {j.key for j in RECIPES["fig1"].plan("quick", Path("r")).train}
    assert fig1 == fig2
    fig4 = {j.key for j in RECIPES["fig4"].plan("quick", Path("r")).train}
    t1 = {j.key for j in RECIPES["table1"].plan("quick", Path("r")).train}
    assert len(fig4 & t1) == 9  # the MNIST rows at lr 1e-3, seeds 0, 1 and 2


def test_only_selects_runs_and_names_bad_filters():
    plan = RECIPES["table1"].plan("quick", Path("r"))
    mnist = select(plan, parse_only(["task=mnist-lenet"]))
    assert len(mnist.train) == 9 and all(j.tag["task"] == "mnist-lenet" for j in mnist.train)
    with pytest.raises(UserError, match="matches no run"):
        select(plan, {"task": "imagenet"})
    with pytest.raises(UserError, match="tag=value"):
        parse_only(["task"])
    with pytest.raises(UserError, match="did you mean 'fig4'"):
        get_recipe("fig44")


def test_job_keys_are_stable_and_content_addressed():
    a = TrainJob(
        "quickstart.yaml", ("train.epochs=2", "model.width=1"), (("eps", 0.1), ("seed", 3))
    )
    b = TrainJob(
        "quickstart.yaml", ("model.width=1", "train.epochs=2"), (("eps", 0.1), ("seed", 3))
    )
    c = TrainJob(
        "quickstart.yaml", ("train.epochs=3", "model.width=1"), (("eps", 0.1), ("seed", 3))
    )
    assert a.key == b.key and a.key.startswith("eps0.1-s3-") and a.key != c.key


# ---------------------------------------------------------------- aggregation and verdicts


def _run(status: str, **summary) -> RunResult:
    return RunResult(TrainJob("x.yaml", (), ()), Path("r"), {"status": status, **summary})


def test_mean_std_is_sample_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([5.0]) == (5.0, 0.0)
    assert all(math.isnan(v) for v in mean_std([]))
    # a table cell shows a spread only when there is one (one seed: no "± 0.00"), and n
    assert (fmt_mean_std([1.0, 2.0, 3.0]), fmt_mean_std([5.0]), fmt_mean_std([])) == (
        "2.00 ± 1.00 (n=3)", "5.00 (n=1)", "-",
    )  # fmt: skip


def test_diverged_runs_count_as_chance_and_failed_ones_are_left_out():
    runs = [_run("completed", robust_error=10.0), _run("diverged"), _run("failed")]
    assert errors(runs) == [10.0, 90.0]


@pytest.mark.parametrize(
    ("values", "increasing", "expected"),
    [
        ([1, 2, 3, 4], True, True),
        ([1, 3, 2, 4], True, True),  # one noisy middle step
        ([1, 0.5, 0.4, 1.1], True, False),  # steps mostly contradict
        ([4, 3, 2, 1], True, False),
        ([4, 3, 2, 1], False, True),
        ([1], True, False),
        ([1, float("nan")], True, False),
    ],
)
def test_ordered(values, increasing, expected):
    assert ordered(values, increasing) is expected


def _seeds(value: float, spread: float = 0.1) -> list[float]:
    """Three seeds' values around `value`."""
    return [value - spread, value, value + spread]


def test_gradient_claims_follow_the_data():
    from advland.experiments.items_dynamics import gradient_claims

    def run(eps, early, err, moved, late):
        return {"eps": eps, "first_grad_norm": [early], "first_robust_error": [err, err],
                "first_dist_init": [moved], "last_grad_norm": [late]}  # fmt: skip

    def seeds(rows, jitter=(0.0, 0.05, -0.05)):  # three seeds, each a small shift of `rows`
        return {i: [run(r[0], *(v + j for v in r[1:])) for r in rows] for i, j in enumerate(jitter)}

    paper_like = [(0.0, 5.0, 20, 3.0, 0.1), (0.1, 3.0, 50, 2.0, 1.0), (0.3, 1.0, 80, 1.0, 2.0)]
    claims = gradient_claims(seeds(paper_like))
    assert [c["verdict"] for c in claims] == ["reproduced"] * 4
    assert all(c["family"] == "trend" and "n=3 per ε" in c["evidence"] for c in claims)
    opposite = [(0.0, 1.0, 80, 1.0, 2.0), (0.1, 3.0, 50, 2.0, 1.0), (0.3, 5.0, 20, 3.0, 0.5)]
    assert [c["verdict"] for c in gradient_claims(seeds(opposite))] == ["not reproduced"] * 4
    # the late gradient is claimed for ε = 0 too: a run at ε = 0 above ε = 0.1 reverses it,
    # while the earlier rule (ε > 0 only) still calls it reproduced, and the report shows both
    late_eps0 = [(0.0, 5.0, 20, 3.0, 1.5), (0.1, 3.0, 50, 2.0, 1.0), (0.3, 1.0, 80, 1.0, 2.0)]
    late = gradient_claims(seeds(late_eps0))[3]
    assert late["verdict"] == "not reproduced"
    assert [(e["rule_version"], e["verdict"]) for e in late["earlier"]] == [
        (1, "reproduced"),
        (2, "reproduced"),
    ]
    assert {c["verdict"] for c in gradient_claims({})} == {"not run"}


def _arms(**by_sched):
    from advland.experiments.stats import Arm

    return {s: {x: Arm(list(v)) for x, v in xs.items()} for s, xs in by_sched.items()}


def test_warmup_claims_follow_the_data():
    from advland.experiments.items_schedulers import warmup_claims

    good = _arms(
        constant={1e-4: _seeds(60), 1e-3: _seeds(40), 1e-2: _seeds(90)},
        cosine={1e-4: _seeds(30), 1e-3: _seeds(20), 1e-2: _seeds(25)},
        linear={1e-4: _seeds(35), 1e-3: _seeds(22), 1e-2: _seeds(30)},
    )
    assert [c["verdict"] for c in warmup_claims(good)] == ["reproduced", "reproduced"]
    bad = dict(good, **_arms(cosine={1e-4: _seeds(70), 1e-3: _seeds(50), 1e-2: _seeds(90)}))
    assert [c["verdict"] for c in warmup_claims(bad)] == ["not reproduced", "not reproduced"]
    # means in the claimed direction, but within seed noise: inconclusive (rule 1 said
    # reproduced, and that stays visible)
    noisy = dict(good, **_arms(cosine={1e-4: [20, 60, 95], 1e-3: [5, 35, 70], 1e-2: [10, 50, 90]}))
    c = warmup_claims(noisy)[0]
    assert c["verdict"] == "inconclusive" and c["earlier"][0]["verdict"] == "reproduced"
    assert warmup_claims({})[0]["verdict"] == "not run"


def test_table1_claims_use_the_ensemble_for_periodic_rows():
    from advland.experiments.items_table1 import scheduler_claims
    from advland.experiments.stats import Arm

    task = "cifar10-resnet18"

    def cell(clean, robust):
        return (Arm(_seeds(clean)), Arm(_seeds(robust)))

    found = {
        (task, "constant", False): cell(20.0, 55.0),
        (task, "cosine", False): cell(19.0, 54.0),
        (task, "linear", False): cell(18.0, 53.0),
        (task, "constant", True): cell(21.0, 49.0),
        (task, "cosine", True): cell(20.0, 48.5),
        (task, "linear", True): cell(20.0, 48.4),
    }
    verdicts = [c["verdict"] for c in scheduler_claims(found, [task])]
    assert verdicts == ["reproduced", "reproduced"]
    found[(task, "linear", True)] = cell(20.0, 60.0)
    claims = scheduler_claims(found, [task])
    assert [c["verdict"] for c in claims] == ["not reproduced", "not reproduced"]
    # "in all cases": rule 1 looked at the rows without resets only and stays visible
    assert claims[0]["earlier"][0]["verdict"] == "reproduced"


def test_table1_quick_rows_name_their_own_eps():
    from advland.experiments.items_table1 import labels

    assert labels("full")["mnist-lenet"] == "MNIST LeNet ε=0.4"  # the paper's row
    assert labels("quick")["mnist-lenet"] == "MNIST LeNet ε=0.3 (quick scale)"
    assert labels("quick")["cifar10-vgg"] == labels("full")["cifar10-vgg"]


def test_similarity_claims_compare_directions():
    from advland.experiments.items_similarity import direction_claims

    def rec(sim_end, err_end):
        return {"a": [0.0, 0.5], "mean": {"similarity_train": [1.0, sim_end],
                **{f"robust_error_{s}_train": [10.0, err_end] for s in ("plus", "minus")}}}  # fmt: skip

    def seeds(eig, rnd):  # three models, small seed-to-seed differences
        return {
            0.1: {
                s: {
                    "top-eigenvector": rec(eig[0] + d, eig[1] + 10 * d),
                    "random": rec(rnd[0], rnd[1] + 10 * d),
                }
                for s, d in enumerate((0.0, 0.01, -0.01))
            }
        }

    claims = direction_claims(seeds((0.5, 60.0), (0.95, 11.0)))
    assert [c["verdict"] for c in claims] == ["reproduced"] * 4
    assert [c["family"] for c in claims] == ["directional", "directional", "flat", "flat"]
    claims = direction_claims(seeds((0.97, 11.0), (0.95, 12.0)))
    assert [c["verdict"] for c in claims[:2]] == ["not reproduced"] * 2
    # flatness along the random direction, tolerance ±5 points and cosine ≥ 0.8: a random
    # direction whose error rises by 30 points is not flat, whatever the eigenvector does
    claims = direction_claims(seeds((0.5, 90.0), (0.6, 40.0)))
    assert [c["verdict"] for c in claims] == ["reproduced", "reproduced"] + ["not reproduced"] * 2
    assert "tol = ±5 points" in claims[2]["rule"]


def test_empty_plan_selects_nothing():
    assert select(Plan(), {}) == Plan()


def test_surface_rise_is_local_curvature():
    from advland.experiments.items_landscape import rises

    a = np.linspace(-0.5, 0.5, 9)
    r2 = a[:, None] ** 2 + a[None, :] ** 2

    def bowl(curvature):  # quadratic near θ, saturating at 3 farther out
        return {"loss": [np.minimum(0.5 * curvature * r2, 3.0).tolist()]}

    local = [rises(bowl(c))[0] for c in (10, 50, 150)]
    assert local == sorted(local) and local[0] == pytest.approx(0.5 * 10 * 0.125**2 * 1.5)
    # the whole-grid mean is dominated by the saturated far field: the sharpest bowl's
    # mean sits barely above the middle one's, while the local rise is 3x larger
    whole = [rises(bowl(c))[1] for c in (50, 150)]
    assert whole[1] / whole[0] < 1.5 and local[2] / local[1] == pytest.approx(3.0)


def test_list_shows_seeds_rule_version_and_verdict_families():
    from support import run_cli

    out = run_cli("reproduce", "--list", check=True).stdout
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    for name, recipe in RECIPES.items():
        quick = len(recipe.plan("quick", Path("r")).seeds)
        cells = [c.strip() for c in rows[name].split("|")[1:-1]]
        assert cells[1].startswith(f"{quick}/") and cells[2] == f"v{recipe.rule_version}"
        assert cells[4] == ", ".join(recipe.families)
        if recipe.families != ("check",):  # closed-form items have no seeds to add
            assert quick >= 3, name  # every quick claim rests on at least 3 seeds
    assert "inconclusive" not in rows  # (the header row is not an item)


def test_every_trained_item_records_its_changes():
    """Every item whose rules or quick settings changed after results existed says so, and
    a change whose earlier rule is not recomputed carries the recorded numbers."""
    for name, recipe in RECIPES.items():
        if recipe.families == ("check",):
            assert recipe.history == ()
            continue
        kinds = {c.kind for c in recipe.history}
        assert kinds == {"rule", "config"}, name
        assert max(c.version for c in recipe.history if c.kind == "config") == (
            recipe.config_version
        )
        for c in recipe.history:
            assert c.recomputed or any(ch.isdigit() for ch in c.evidence) or c.evidence == "—"
