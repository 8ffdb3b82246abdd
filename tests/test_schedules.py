"""Schedules against hand-computed values (paper eq. 5, appendix C.1 settings)."""

from __future__ import annotations

import math

import pytest

from advland import schedules as S
from advland.config import build_config
from advland.training.setup import eps_schedule, lr_schedule


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=1e-15)


def test_cosine_mnist_paper_setting():
    # ε_max = 0.6, ε_min = 0, D = 100 epochs, clipped to the target 0.4.
    s = S.eps_warmup("cosine", 0.4, 0.0, 0.6, 100)
    assert s(0) == 0.0
    assert s(25) == approx(0.5 * (1 - math.cos(math.pi / 4)) * 0.6)  # 0.0878679...
    assert s(25) == approx(0.08786796564403576)
    assert s(50) == approx(0.3)
    assert s(60) == approx(0.5 * (1 + math.cos(0.4 * math.pi)) * 0.6)  # 0.3927, not yet clipped
    assert s(99) == 0.4


def test_cosine_reaches_target_where_closed_form_says():
    s = S.eps_warmup("cosine", 0.4, 0.0, 0.6, 100)
    d_star = 100 * math.acos(1 - 2 * 0.4 / 0.6) / math.pi  # ≈ 60.8
    assert s(d_star - 1e-6) < 0.4
    assert s(d_star + 1e-6) == 0.4


def test_linear_mnist_paper_setting():
    s = S.eps_warmup("linear", 0.4, 0.0, 0.8, 100)
    assert [s(d) for d in (0, 10, 25, 50, 75, 100)] == [
        approx(0.0),
        approx(0.08),
        approx(0.2),
        approx(0.4),
        0.4,
        0.4,
    ]


def test_cifar_settings_reach_8_over_255_at_half_warmup():
    for kind in ("cosine", "linear"):
        s = S.eps_warmup(kind, 8 / 255, 0.0, 16 / 255, 200)
        assert s(100) == approx(8 / 255)
        assert s(150) == approx(8 / 255)
    assert S.eps_warmup("cosine", 8 / 255, 0, 16 / 255, 200)(50) == approx(
        0.5 * (1 - math.cos(math.pi / 4)) * 16 / 255
    )


def test_negative_eps_min_is_clipped_at_zero():
    s = S.eps_warmup("linear", 0.3, -0.1, 0.5, 10)
    assert s(0) == 0.0 and s(1) == 0.0 and s(2) == approx(0.02)


def test_constant():
    assert S.eps_warmup("constant", 0.3, 0, 0, 10)(7.5) == 0.3


def test_periodic_rescales_each_period():
    inner = S.Linear(0.0, 200.0, 200.0)  # identity on [0, 200]
    p = S.Periodic(inner, (0, 100, 150, 200))
    assert p(0) == 0 and p(50) == approx(100)  # period 0: t·200/100
    assert p(100) == 0 and p(125) == approx(100)  # period 1: (t-100)·200/50
    assert p(150) == 0 and p(175) == approx(100) and p(199) == approx(196)
    assert [S.period_index((0, 100, 150, 200), t) for t in (0, 99.9, 100, 149, 150, 200)] == [
        0,
        0,
        1,
        1,
        2,
        2,
    ]


def test_resnet_pas_lr_from_recipe():
    cfg = build_config("configs/cifar10-resnet18-linear-pas.yaml")
    lr = lr_schedule(cfg)
    # Each period replays "0.1, ÷10 at 1/2 and 3/4 of the period" (paper Fig. 6).
    expected = {
        0: 0.1,
        49: 0.1,
        50: 0.01,
        74: 0.01,
        75: 0.001,
        99: 0.001,
        100: 0.1,
        124: 0.1,
        125: 0.01,
        137.5: 0.001,
        150: 0.1,
        175: 0.01,
        199: 0.001,
    }
    for t, v in expected.items():
        assert lr(t) == approx(v), t
    eps = eps_schedule(cfg)
    assert eps(0) == 0 and eps(100) == 0 and eps(150) == 0
    assert eps(110) == approx((16 / 255) * 40 / 200)  # period 1, inner time 40 of 200
    assert eps(125) == approx(8 / 255) and eps(199) == approx(8 / 255)


def test_vgg_exponential_lr():
    cfg = build_config("configs/cifar10-vgg-cosine.yaml")
    lr = lr_schedule(cfg)
    assert lr(0) == approx(1e-3) and lr(100) == approx(1e-3)
    assert lr(125) == approx(1e-3 * 0.1**0.5)
    assert lr(150) == approx(1e-4) and lr(199) == approx(1e-4)


def test_lr_warmup_appendix_c23():
    s = S.Warmup(S.Constant(1e-3), 10)
    assert s(0) == 0 and s(5) == approx(5e-4) and s(10) == approx(1e-3) and s(50) == approx(1e-3)


def test_multistep():
    s = S.MultiStep(0.1, (100, 150), 0.1)
    assert [s(t) for t in (0, 99.99, 100, 150, 199)] == [
        approx(0.1),
        approx(0.1),
        approx(0.01),
        approx(0.001),
        approx(0.001),
    ]


def test_mnist_recipe_schedules():
    cos = eps_schedule(build_config("configs/mnist-lenet-cosine.yaml"))
    lin = eps_schedule(build_config("configs/mnist-lenet-linear.yaml"))
    assert cos(50) == approx(0.3) and cos(70) == 0.4
    assert lin(25) == approx(0.2) and lin(50) == approx(0.4)
