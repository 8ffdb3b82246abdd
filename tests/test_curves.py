"""Bezier mode connectivity: curve algebra, functional evaluation, BN re-estimation, training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advland.analysis.landscape.bezier import BezierCurve, bernstein
from advland.analysis.landscape.curve_eval import evaluate_curve, reestimate_at
from advland.analysis.landscape.curves import CurveConfig, train_curve
from advland.attacks.spec import AttackConfig
from advland.errors import UserError
from advland.models import build_model
from support import random_images


def mlp(seed: int, d: int = 4, h: int = 16, k: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, k))


def toy_data(n: int = 256, d: int = 4, k: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=g)
    w = torch.randn(d, k, generator=g)
    y = ((x - 0.5) @ w).argmax(1)
    return x, y


def fitted_pair():
    """A trained MLP and the same function with hidden units permuted (a different θ)."""
    x, y = toy_data()
    model = mlp(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(1))
    other = mlp(0)
    with torch.no_grad():
        other[0].weight.copy_(model[0].weight[perm])
        other[0].bias.copy_(model[0].bias[perm])
        other[2].weight.copy_(model[2].weight[:, perm])
        other[2].bias.copy_(model[2].bias)
    assert torch.allclose(model(x), other(x), atol=1e-5)
    return model, other, (x, y)


def perturb_controls(curve: BezierCurve, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in curve.control_parameters():
            p.add_(torch.randn(p.shape, generator=g))


def test_endpoints_are_exact():
    a, b = mlp(0), mlp(1)
    curve = BezierCurve(a, b, order=3)
    perturb_controls(curve)
    start, end = curve.params_at(0.0), curve.params_at(1.0)
    for name, p in a.named_parameters():
        assert torch.equal(start[name], p)
    for name, p in b.named_parameters():
        assert torch.equal(end[name], p)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 7])
def test_bernstein_weights_sum_to_one(order):
    for t in torch.linspace(0, 1, 13).tolist():
        w = bernstein(t, order)
        assert w.shape == (order + 1,)
        assert (w >= 0).all()
        assert math.isclose(w.sum().item(), 1.0, abs_tol=1e-12)
        assert math.isclose(w[1].item(), order * t * (1 - t) ** (order - 1), abs_tol=1e-12)


def test_order_one_is_the_straight_line_and_initial_curve_too():
    a, b = mlp(0), mlp(1)
    for order in (1, 3):  # control points start evenly on the line: any order is the line
        curve = BezierCurve(a, b, order=order)
        for t in (0.0, 0.25, 0.6, 1.0):
            at = curve.params_at(t)
            for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
                torch.testing.assert_close(at[name], (1 - t) * pa + t * pb, atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch", ["mlp", "resnet18"])
def test_functional_evaluation_matches_loaded_model(arch):
    if arch == "mlp":
        a, b, x = mlp(0), mlp(1), torch.rand(8, 4)
    else:
        torch.manual_seed(0)
        a, b = (build_model("resnet18", width=1, in_channels=1, image_size=8) for _ in range(2))
        x = torch.rand(4, 1, 8, 8)
        for m in (a, b):  # give the endpoints distinct running statistics
            m.train()(torch.rand(8, 1, 8, 8))
    curve = BezierCurve(a, b, order=2)
    perturb_controls(curve, seed=3)
    for t in (0.0, 0.3, 1.0):
        loaded = curve.model_at(t)
        with torch.no_grad():
            torch.testing.assert_close(curve(x, t), loaded(x), atol=1e-5, rtol=1e-5)
        for name, p in loaded.named_parameters():
            torch.testing.assert_close(p, curve.params_at(t)[name], atol=0, rtol=0)


def test_mismatched_architectures_rejected():
    with pytest.raises(UserError):
        BezierCurve(mlp(0), mlp(0, h=8), order=2)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_bn_reestimation_uses_only_the_inputs_passed(eps):
    torch.manual_seed(0)
    a = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 3))
    b = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 3))
    x, y = toy_data(n=64)
    curve = BezierCurve(a, b, order=2)
    model = curve.model_at(0.4)
    cfg = CurveConfig(attack=AttackConfig(eps=eps, steps=3), bn_examples=24, bn_batch_size=64)
    used = reestimate_at(model, x, y, cfg, torch.Generator().manual_seed(0))
    assert used.shape[0] == 24
    if eps == 0:
        assert torch.equal(used, x[:24])
    else:  # adversarial versions of the first 24 inputs, inside the budget
        assert (used - x[:24]).abs().max() <= 0.1 + 1e-6
        assert not torch.equal(used, x[:24])
    bn = model[0]
    # one batch, momentum=None: running stats are exactly the (unbiased) moments of `used`
    torch.testing.assert_close(bn.running_mean, used.mean(0), atol=1e-6, rtol=0)
    torch.testing.assert_close(bn.running_var, used.var(0, unbiased=True), atol=1e-6, rtol=0)
    assert not bn.training  # modes restored


def mean_curve_loss(curve: BezierCurve, x, y, num_t: int = 11) -> float:
    with torch.no_grad():
        losses = [F.cross_entropy(curve(x, t), y).item() for t in torch.linspace(0, 1, num_t)]
    return sum(losses) / len(losses)


def test_training_lowers_the_loss_along_the_curve():
    a, b, (x, y) = fitted_pair()
    attack = AttackConfig(eps=0.02, steps=2)
    cfg = CurveConfig(order=2, epochs=40, lr=0.02, batch_size=64, attack=attack, seed=0)
    line = train_curve(a, b, (x, y), cfg.__class__(**{**cfg.__dict__, "epochs": 0}))
    before = mean_curve_loss(line, x, y)
    end_loss = F.cross_entropy(a(x), y).item()
    assert before > end_loss + 0.05  # the straight line between permuted twins has a barrier
    a_state = {k: v.clone() for k, v in a.state_dict().items()}
    curve = train_curve(a, b, (x, y), cfg)
    after = mean_curve_loss(curve, x, y)
    assert after < before - 0.5 * (before - end_loss), (before, after, end_loss)
    assert len(curve.history) == cfg.epochs
    for k, v in a.state_dict().items():  # the endpoint models are never modified
        assert torch.equal(v, a_state[k])
    res = evaluate_curve(
        curve, (x, y), (x[:64], y[:64]), cfg.__class__(**{**cfg.__dict__, "num_t": 3})
    )
    assert res.t == (0.0, 0.5, 1.0)
    # robust loss >= clean loss everywhere; at t=0 the clean loss is model a's
    for rob, clean in zip(res.metrics["train_loss"], res.metrics["train_clean_loss"], strict=True):
        assert rob >= clean - 1e-6
    assert math.isclose(res.metrics["train_clean_loss"][0], end_loss, rel_tol=1e-5)


@pytest.mark.parametrize("name,size", [("vgg", 32), ("resnet18", 8)])
def test_bn_models_train_and_evaluate(name, size, tmp_path):
    torch.manual_seed(0)
    a, b = (build_model(name, width=1, in_channels=3, image_size=size) for _ in range(2))
    x, y = random_images(16, (3, size, size))
    for m in (a, b):
        m.train()(x)
        m.eval()
    states = [{k: v.clone() for k, v in m.state_dict().items()} for m in (a, b)]
    attack = AttackConfig(eps=2 / 255, steps=1)
    cfg = CurveConfig(order=2, epochs=1, batch_size=8, attack=attack, num_t=3, lr=1e-3)
    curve = train_curve(a, b, (x, y), cfg)
    res = evaluate_curve(curve, (x, y), (x[:8], y[:8]), cfg, out_dir=tmp_path)
    assert all(math.isfinite(v) for vals in res.metrics.values() for v in vals)
    assert "re-estimated" in res.provenance["bn_mode"]
    for m, state in zip((a, b), states, strict=True):  # running stats never polluted
        for k, v in m.state_dict().items():
            assert torch.equal(v, state[k]), k
    assert (tmp_path / "curve.json").exists() and (tmp_path / "curve_figure.png").exists()
    assert (tmp_path / "curve.pt").exists()
