"""Each sanity check of an evaluation, and the gradient-masking flag, fails on a model built
to trip it, and passes on an honest model."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from advland.errors import UserError
from advland.evaluation.api import evaluate_model, worst_case
from advland.evaluation.curve import grows_with_eps
from advland.evaluation.robust import CLEAN, robust_evaluate
from advland.evaluation.sanity import (
    ZERO_GRAD_LIMIT,
    black_box_only,
    clean_wrong,
    eps0_equals_clean,
    result_checks,
    sanity_checks,
)
from evaluation_support import mnist5k, trained_lenet


def _checks(model, x, y, result, weaker=()):
    out = sanity_checks(model, x, y, result, batch_size=100, device=torch.device("cpu"),
                        weaker=list(weaker))  # fmt: skip
    return {c["name"]: c for c in out}


def _points(n):
    _, _, x, y = mnist5k()
    return x[:n], y[:n]


class Randomised(nn.Module):
    """A forward pass that adds fresh noise on every call (randomised defence)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x) + 3.0 * torch.randn(x.shape[0], 10)


class Quantised(nn.Module):
    """Inputs rounded to {0, 1/2, 1} before the model: the input gradient is zero."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model((x * 2).round() / 2)


def test_honest_model_passes_every_check():
    model, (x, y) = trained_lenet(), _points(40)
    res = robust_evaluate(model, x, y, eps=0.1, suite="quick")
    checks = _checks(model, x, y, res)
    assert all(c["passed"] for c in checks.values()), checks


def test_eps0_check_fails_on_a_randomised_forward():
    torch.manual_seed(0)
    model, (x, y) = Randomised(trained_lenet()), _points(40)
    res = robust_evaluate(model, x, y, eps=0.1, suite="quick")
    checks = _checks(model, x, y, res)
    assert not checks["eps0_equals_clean"]["passed"]
    assert "points differ" in checks["eps0_equals_clean"]["detail"]
    # the Quickstart's smaller check (eval.eps0_points = 16) still catches it
    small = eps0_equals_clean(model, x, y, suite="quick", norm="linf", batch_size=100,
                              device=torch.device("cpu"), points=16)  # fmt: skip
    assert not small["passed"] and "on 16 points" in small["detail"]


def test_robust_ge_clean_fails_on_a_mask_bug():
    """A test double of robust_evaluate whose mask forgets the clean mistakes."""
    model, (x, y) = trained_lenet(), _points(100)
    real = robust_evaluate(model, x, y, eps=0.1, suite="quick")
    assert CLEAN in real.broken_by
    buggy = dataclasses.replace(real, broken_by=["" if b == CLEAN else b for b in real.broken_by])
    assert _checks(model, x, y, real)["robust_ge_clean"]["passed"]
    assert not _checks(model, x, y, buggy)["robust_ge_clean"]["passed"]


def test_robust_ge_clean_passes_when_robust_equals_clean():
    """At ε = 0 the robust error is the clean error. The two percentages come from different
    float paths (1 − mean(correct) against mean(wrong)): with 3 mistakes in 100 points they
    differ in the last bits (2.9999971 vs 2.9999999), which must not fail the check."""
    model = trained_lenet()
    _, _, x, y = mnist5k()
    wrong = clean_wrong(model, x, y, batch_size=500, device="cpu")
    pick = torch.cat([wrong.nonzero()[:3, 0], (~wrong).nonzero()[:97, 0]])
    x, y = x[pick], y[pick]
    res = robust_evaluate(model, x, y, eps=0.0, suite="quick")
    clean = clean_wrong(model, x, y, batch_size=100, device="cpu")
    assert res.robust_error < 100.0 * clean.float().mean().item()  # the float gap is there
    check = _checks(model, x, y, res)["robust_ge_clean"]
    assert check["passed"], check["detail"]


def test_stronger_suite_check_fails_when_the_weaker_suite_finds_more():
    model, (x, y) = trained_lenet(), _points(40)
    weak = robust_evaluate(model, x, y, eps=0.1, suite="quick")
    feeble = robust_evaluate(model, x, y, eps=0.02, suite="quick")  # mislabelled as stronger
    assert not _checks(model, x, y, dataclasses.replace(feeble, suite="standard"),
                       [weak])["standard_ge_quick"]["passed"]  # fmt: skip


def test_square_breaking_what_white_box_missed_is_flagged():
    """Zero input gradients: APGD and FAB are blind, Square is not."""
    model, (x, y) = Quantised(trained_lenet()), _points(20)
    res = robust_evaluate(model, x, y, eps=0.3, suite="autoattack")
    flag = black_box_only(res)
    assert not flag["passed"], flag
    assert res.zero_grad_fraction >= ZERO_GRAD_LIMIT  # no_zero_gradients trips too
    honest = robust_evaluate(trained_lenet(), x, y, eps=0.3, suite="quick")
    assert black_box_only(honest)["passed"]  # no black-box attack in quick: nothing flagged
    assert sum(b == "Square-5000" for b in res.broken_by) >= 2


def test_evaluate_model_on_tensors_and_loader():
    model, (x, y) = trained_lenet(), _points(60)
    a = evaluate_model(model, (x, y), eps=0.1, suite="quick", limit=40)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    b = evaluate_model(model, loader, eps=0.1, suite="quick", limit=40)
    assert a.per_example == b.per_example and len(a.per_example["broken_by"]) == 40
    s = a.summary
    for key in ("clean_acc", "robust_acc", "norm", "eps", "attacks", "n_examples", "model",
                "date"):  # fmt: skip
        assert key in s
    assert s["robust_acc"] <= s["clean_acc"]
    assert s["robust_error"] == 100.0 * sum(b != "" for b in a.per_example["broken_by"]) / 40


def test_final_number_is_the_worst_case_over_all_suites():
    model, (x, y) = trained_lenet(), _points(60)
    r1 = robust_evaluate(model, x, y, eps=0.1, suite="quick")
    r2 = robust_evaluate(model, x, y, eps=0.1, suite="quick", seed=5)
    both = worst_case([r1, r2])
    union = [a != "" or b != "" for a, b in zip(r1.broken_by, r2.broken_by, strict=True)]
    assert [b != "" for b in both] == union


def test_a_model_with_the_wrong_output_shape_is_refused():
    x, y = _points(8)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Flatten(0))  # [N*10]
    with pytest.raises(UserError, match=r"\[N, classes\]"):
        evaluate_model(flat, (x, y), eps=0.1)
    with pytest.raises(UserError, match="unknown suite"):
        evaluate_model(trained_lenet(), (x, y), eps=0.1, suite="strong")


def _overshoot(model, x, y, threat, *, generator=None, **_):
    """A buggy attack for the test: one signed-gradient step of 0.3 that ignores ε."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), x)
    return (x + 0.3 * g.sign()).clamp(0, 1).detach()


def test_eps0_check_fails_when_an_attack_of_the_suite_ignores_eps(monkeypatch):
    """The ε = 0 check runs the suite's own attacks at ε = 0: a budget bug trips it."""
    from advland.attacks import registry
    from advland.evaluation import suites

    monkeypatch.setitem(registry.ATTACKS, "overshoot", _overshoot)
    monkeypatch.setitem(suites.SUITES, "buggy", (suites.Named("overshoot", (), "Overshoot"),))
    monkeypatch.setitem(suites.WEAKER, "buggy", ())
    model, (x, y) = trained_lenet(), _points(40)
    opts = {"norm": "linf", "batch_size": 100, "device": torch.device("cpu")}
    bad = eps0_equals_clean(model, x, y, suite="buggy", **opts)
    assert not bad["passed"] and "points differ" in bad["detail"], bad
    assert eps0_equals_clean(model, x, y, suite="quick", **opts)["passed"]


def test_zero_gradient_check_fails_on_a_rounding_model():
    model, (x, y) = Quantised(trained_lenet()), _points(20)
    res = robust_evaluate(model, x, y, eps=0.1, suite="quick")
    checks = {c["name"]: c for c in result_checks(model, x, y, res, batch_size=100,
                                                  device=torch.device("cpu"), weaker=[])}  # fmt: skip
    assert not checks["no_zero_gradients"]["passed"]
    honest = robust_evaluate(trained_lenet(), x, y, eps=0.1, suite="quick")
    assert _checks(trained_lenet(), x, y, honest)["no_zero_gradients"]["passed"]


def _record(eps, robust_error, n=100):
    return {"eps": eps, "robust_error": robust_error, "n_examples": n}


def test_curve_check_fails_when_robust_error_drops_as_eps_grows():
    """A test double of a curve's records: the check compares each ε with every smaller one."""
    assert grows_with_eps([_record(0.1, 20.0), _record(0.2, 35.0), _record(0.3, 60.0)])["passed"]
    assert grows_with_eps([_record(0.1, 20.0), _record(0.2, 19.0)])["passed"]  # within 2 of 100
    drop = grows_with_eps([_record(0.1, 20.0), _record(0.2, 40.0), _record(0.3, 30.0)])
    assert not drop["passed"] and "ε=0.2 40.00% > ε=0.3 30.00%" in drop["detail"]


def test_evaluate_model_reports_its_failed_checks():
    torch.manual_seed(0)
    model, (x, y) = Randomised(trained_lenet()), _points(40)
    ev = evaluate_model(model, (x, y), eps=0.1, suite="quick")
    assert "eps0_equals_clean" in ev.summary["failed_checks"]
    honest = evaluate_model(trained_lenet(), (x, y), eps=0.1, suite="quick")
    assert honest.summary["failed_checks"] == []
    assert [c["name"] for c in honest.checks] == [
        "eps0_equals_clean", "robust_ge_clean", "no_black_box_only", "no_zero_gradients"
    ]  # fmt: skip


def test_pas_members_reuse_the_final_result_and_the_ensemble_keeps_every_check():
    """The last PAS snapshot is the final model: its result is the final model's, not a
    second evaluation; an earlier snapshot gets the checks of its own result, and the
    ensemble (a different forward pass) gets the ε = 0 check and the diagnostics too."""
    import copy

    from advland.config import build_config
    from advland.evaluation.report import evaluate_pas, evaluate_suite, same_weights

    cfg = build_config("configs/quickstart.yaml", ["eval.suite=quick", "eval.batch_size=100"])
    final_model = trained_lenet()
    other = copy.deepcopy(final_model)
    with torch.no_grad():
        next(other.parameters()).mul_(0.9)
    assert same_weights(final_model, copy.deepcopy(final_model))
    assert not same_weights(final_model, other)
    x, y = _points(80)
    cpu, log = torch.device("cpu"), lambda line: None
    final = evaluate_suite(cfg, final_model, x, y, "quick", device=cpu, log=log)
    got = evaluate_pas(
        cfg, final_model, final, [other, final_model], x=x, y=y, suite="quick", device=cpu, log=log
    )
    assert got["members"][1] is final
    names = [[c["name"] for c in r["sanity"]] for r in (got["members"][0], got["ensemble"])]
    assert "eps0_equals_clean" not in names[0] and "robust_ge_clean" in names[0]
    assert "eps0_equals_clean" in names[1] and got["ensemble"]["diagnostics"]
    assert all(c["passed"] for r in (got["members"][0], got["ensemble"]) for c in r["sanity"])
