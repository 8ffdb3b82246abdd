"""APGD-T, FAB-T and Square: invariants, and agreement with torchattacks (an implementation
advland did not write) on a small adversarially trained LeNet on mnist-5k digits."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advland.attacks import Threat, apgd_t, fab_t, square
from advland.attacks.apgd_t import target_classes
from advland.attacks.square import p_schedule
from evaluation_support import mnist5k, trained_lenet

EPS = {"linf": 0.1, "l2": 1.5}


def _points(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    _, _, x, y = mnist5k()
    return x[:n], y[:n]


def _robust_acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return 100.0 * (model(x).argmax(1) == y).float().mean().item()


ATTACKS = {
    "apgd-t": lambda m, x, y, t, **kw: apgd_t(m, x, y, t, steps=10, targets=3, **kw),
    "fab-t": lambda m, x, y, t, **kw: fab_t(m, x, y, t, steps=10, targets=3, **kw),
    "square": lambda m, x, y, t, **kw: square(m, x, y, t, queries=100, **kw),
}


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_inside_the_ball_and_the_box(name, norm):
    model = trained_lenet()
    x, y = _points(32)
    x_adv = ATTACKS[name](model, x, y, Threat(norm, EPS[norm]))
    d = (x_adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert size.max() <= EPS[norm] * (1 + 1e-5)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert _robust_acc(model, x_adv, y) < _robust_acc(model, x, y)  # it does attack


def test_targets_are_the_next_most_likely_classes():
    model = trained_lenet()
    x, _ = _points(16)
    t = target_classes(model, x, 9)
    with torch.no_grad():
        logits = model(x)
    assert t.shape == (16, 9)
    top = logits.argmax(1)
    assert not (t == top[:, None]).any()  # never the predicted class
    ranked = logits.gather(1, t)
    assert (ranked[:, :-1] >= ranked[:, 1:]).all()  # in decreasing order of logit
    assert target_classes(build_three_class(), x, 9).shape[1] == 2  # fewer classes: K − 1


def build_three_class() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 3))


@pytest.mark.parametrize("name", ["apgd-t", "fab-t"])
def test_targeted_attacks_go_to_their_target(name):
    """With one target, the points broken are mostly classified as that target."""
    model = trained_lenet()
    x, y = _points(64)
    target = target_classes(model, x, 1)[:, 0]
    attack = apgd_t if name == "apgd-t" else fab_t
    x_adv = attack(model, x, y, Threat("linf", 0.15), steps=20, targets=1)
    with torch.no_grad():
        pred = model(x_adv).argmax(1)
    broken = pred != y
    assert broken.sum() >= 5
    assert (pred[broken] == target[broken]).float().mean() >= 0.8


class _NoBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        raise AssertionError("Square differentiated the model")


def test_square_never_uses_gradients():
    model = trained_lenet()
    calls = []

    class Guard(nn.Module):
        def forward(self, x):
            calls.append(torch.is_grad_enabled())
            return model(_NoBackward.apply(x))

    x, y = _points(32)
    square(Guard(), x, y, Threat("linf", 0.1), queries=50)
    assert calls and not any(calls)


def test_more_queries_never_lower_square_success():
    model = trained_lenet()
    x, y = _points(64)
    wrong = []
    for q in (20, 100, 400):
        x_adv = square(model, x, y, Threat("linf", 0.1), queries=q)
        with torch.no_grad():
            wrong.append(model(x_adv).argmax(1) != y)
    assert (wrong[0] <= wrong[1]).all() and (wrong[1] <= wrong[2]).all()
    assert wrong[2].sum() > wrong[0].sum()


def test_p_schedule_is_the_published_one():
    assert p_schedule(0.8, 0, 10000) == 0.8
    assert p_schedule(0.8, 11, 10000) == 0.4
    # AutoAttack's standard version keeps the query numbers at 5,000 queries (600 > 500) …
    assert p_schedule(0.8, 600, 5000) == 0.8 / 16
    # … the rescaled schedule reads query 600 of 5,000 as 1,200 of 10,000 (> 1000)
    assert p_schedule(0.8, 600, 5000, rescale=True) == 0.8 / 32
    assert p_schedule(0.8, 9999, 10000) == 0.8 / 512


# --- agreement with torchattacks -----------------------------------------------------------

torchattacks = pytest.importorskip(
    "torchattacks",
    reason="torchattacks is not installed (pip install --no-deps torchattacks: it declares a "
    "torchvision dependency advland does not take); the agreement tests need it",
)

N_FULL = 500


def _theirs(name: str, model, norm: str, eps: float, *, steps: int, targets: int, queries: int):
    big = {"linf": "Linf", "l2": "L2"}[norm]
    if name == "apgd-t":
        atk = torchattacks.APGDT(model, norm=big, eps=eps, steps=steps, n_classes=targets + 1)
    elif name == "fab-t":
        atk = torchattacks.FAB(
            model, norm=big, eps=eps, steps=steps, multi_targeted=True, n_classes=targets + 1
        )
    else:
        atk = torchattacks.Square(  # AutoAttack's standard version: schedule not rescaled
            model, norm=big, eps=eps, n_queries=queries, p_init=0.8, resc_schedule=False
        )
    return atk


def _ours(name: str, model, x, y, threat, *, steps: int, targets: int, queries: int):
    if name == "apgd-t":
        return apgd_t(model, x, y, threat, steps=steps, targets=targets)
    if name == "fab-t":
        return fab_t(model, x, y, threat, steps=steps, targets=targets)
    return square(model, x, y, threat, queries=queries)


def _agreement(name, norm, n, *, steps, targets, queries):
    model = trained_lenet()
    x, y = _points(n)
    eps = EPS[norm]
    ours = _robust_acc(model, _ours(name, model, x, y, Threat(norm, eps), steps=steps,
                                    targets=targets, queries=queries), y)  # fmt: skip
    atk = _theirs(name, model, norm, eps, steps=steps, targets=targets, queries=queries)
    theirs = _robust_acc(model, atk(x, y), y)
    return ours, theirs


@pytest.mark.parametrize("name", ["apgd-t", "fab-t", "square"])
def test_agrees_with_torchattacks_small(name):
    """Default suite: 200 points at reduced settings, within 2 points (4 digits)."""
    ours, theirs = _agreement(name, "linf", 200, steps=20, targets=3, queries=300)
    assert abs(ours - theirs) <= 2.0, (ours, theirs)


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("name", ["apgd-t", "fab-t", "square"])
def test_agrees_with_torchattacks_within_one_point(name, norm):
    """The acceptance check: AutoAttack's settings, 500 points, within 1 percentage point."""
    ours, theirs = _agreement(name, norm, N_FULL, steps=100, targets=9, queries=5000)
    print(f"{name} {norm}: robust accuracy advland {ours:.1f}%, torchattacks {theirs:.1f}%")
    assert abs(ours - theirs) <= 1.0, (ours, theirs)
