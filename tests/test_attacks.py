"""Attacks against their invariants and closed forms (tiny models, float64 where it helps)."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advland.attacks import ATTACKS, Threat, apgd, dlr, fgsm, get_attack, list_attacks, pgd
from advland.attacks.apgd import checkpoints
from advland.errors import UserError

NORMS = ["linf", "l2"]
EPS = {"linf": 0.1, "l2": 0.5}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def dist(x_adv: torch.Tensor, x: torch.Tensor, norm: str) -> torch.Tensor:
    d = (x_adv - x).flatten(1)
    return d.abs().amax(1) if norm == "linf" else d.norm(dim=1)


def ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


def tiny_mlp(d: int = 12, k: int = 5, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, k)).double()


def batch(n: int = 32, shape: tuple[int, ...] = (3, 2, 2), k: int = 5, seed: int = 1):
    g = gen(seed)
    x = torch.rand(n, *shape, generator=g, dtype=torch.float64)
    x[:4] = x[:4].round()  # pixels at 0 and 1 exercise the box
    return x, torch.randint(0, k, (n,), generator=g)


# Every attack with small settings and the common keyword interface.
RUNNERS = {
    "fgsm": fgsm,
    "pgd-step": functools.partial(pgd, steps=5, step_size=0.05, random_start="step"),
    "pgd-eps": functools.partial(pgd, steps=5, step_size=0.05, random_start="eps", restarts=2),
    "pgd-none": functools.partial(pgd, steps=5, step_size=0.05, random_start="none"),
    "apgd-ce": functools.partial(apgd, steps=10),
    "apgd-dlr": functools.partial(apgd, steps=10, loss="dlr", restarts=2),
}


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", list(RUNNERS))
def test_invariants(name, norm):
    model, (x, y) = tiny_mlp(), batch()
    x_adv = RUNNERS[name](model, x, y, Threat(norm, EPS[norm]), generator=gen())
    assert not x_adv.requires_grad and x_adv.shape == x.shape
    assert (dist(x_adv, x, norm) <= EPS[norm] + 1e-6).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert ce(model, x_adv, y).mean() > ce(model, x, y).mean()


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", list(RUNNERS))
@pytest.mark.parametrize("eps", [0.0, torch.tensor(0.0, dtype=torch.float64)])
def test_zero_budget_returns_x_exactly(name, norm, eps):
    model, (x, y) = tiny_mlp(), batch()
    assert torch.equal(RUNNERS[name](model, x, y, Threat(norm, eps), generator=gen()), x)


def test_l2_projection_by_hand():
    threat, x = Threat("l2", 0.25), torch.full((2, 4), 0.5, dtype=torch.float64)
    outside = x + torch.tensor([0.3, 0.4, 0.0, 0.0], dtype=torch.float64)  # ‖δ‖ = 0.5
    inside = x + torch.tensor([0.03, 0.04, 0.0, 0.0], dtype=torch.float64)  # ‖δ‖ = 0.05
    expect = x + torch.tensor([0.15, 0.2, 0.0, 0.0], dtype=torch.float64)  # ray ∩ sphere
    torch.testing.assert_close(threat.project(outside, x), expect, rtol=0, atol=1e-15)
    torch.testing.assert_close(threat.project(inside, x), inside, rtol=0, atol=1e-15)


def test_linf_projection_and_box_by_hand():
    threat, x = Threat("linf", 0.1), torch.tensor([[0.05, 0.5, 0.95]], dtype=torch.float64)
    got = threat.project(x + torch.tensor([[-0.3, 0.05, 0.3]], dtype=torch.float64), x)
    torch.testing.assert_close(got, torch.tensor([[0.0, 0.55, 1.0]], dtype=torch.float64))


def test_ascent_directions():
    g = torch.tensor([[3.0, -4.0], [0.0, 0.0]], dtype=torch.float64)
    assert torch.equal(Threat("linf").ascent(g), torch.tensor([[1.0, -1.0], [0.0, 0.0]]).double())
    expect = torch.tensor([[0.6, -0.8], [0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(Threat("l2").ascent(g), expect)  # zero gradient: no NaN


@pytest.mark.parametrize("norm", NORMS)
def test_random_init_is_uniform_in_the_ball(norm):
    x = torch.full((2000, 8), 0.5, dtype=torch.float64)
    start = Threat(norm, 1.0).random_init(x, 0.2, gen())
    r = dist(start, x, norm)
    assert (r <= 0.2 + 1e-12).all() and torch.equal(
        start, Threat(norm, 1.0).random_init(x, 0.2, gen())
    )
    if norm == "linf":  # each coordinate uniform on [-0.2, 0.2]: mean 0, variance 0.04/3
        d = start - x
        assert abs(d.mean()) < 0.005 and abs(d.var() - 0.04 / 3) < 0.001
    else:  # radius of a uniform point in the 8-dim ball: P(r <= 0.2 t) = t^8
        assert abs((r <= 0.2 * 0.5 ** (1 / 8)).double().mean() - 0.5) < 0.04
    # A radius beyond ε is projected back onto the ball.
    assert (dist(Threat(norm, 0.05).random_init(x, 0.2, gen()), x, norm) <= 0.05 + 1e-12).all()


def linear_pair(k: int = 2):
    """A linear model and points in [0.3, 0.7], so a budget of 0.1 never meets the box."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, k)).double()
    x = 0.3 + 0.4 * torch.rand(16, 6, dtype=torch.float64, generator=gen(4))
    return model, x, torch.randint(0, k, (16,), generator=gen(5))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("start", ["none", "eps", "step"])
def test_pgd_reaches_the_linear_closed_form(norm, start):
    # Binary linear model: CE is decreasing in the margin (w_y − w_o)·x, so the optimum in
    # the ball is x − ε·sign(w_y − w_o) (ℓ∞) or x − ε·(w_y − w_o)/‖w_y − w_o‖ (ℓ2).
    model, x, y = linear_pair()
    w = model[1].weight.detach()
    v = w[y] - w[1 - y]
    eps = 0.1
    step = v.sign() if norm == "linf" else v / v.norm(dim=1, keepdim=True)
    # From a random start inside the ℓ2 ball, the radial projection only converges
    # geometrically to the optimum on the sphere; give it enough steps.
    steps = 100 if norm == "l2" and start != "none" else 10
    x_adv = pgd(model, x, y, Threat(norm, eps), steps=steps, step_size=0.05, random_start=start)
    torch.testing.assert_close(x_adv, x - eps * step, rtol=0, atol=1e-12)
    if start == "none":  # FGSM / FGM is exact here too: one full-budget step
        torch.testing.assert_close(fgsm(model, x, y, Threat(norm, eps)), x - eps * step)


@pytest.mark.parametrize("norm", NORMS)
def test_pgd_never_lowers_any_example_loss_without_random_start(norm):
    # Multi-class linear model: CE is convex in x, and every projected step makes a
    # non-negative inner product with the gradient, so no example's loss goes down.
    model, x, y = linear_pair(k=4)
    x = x.clone()
    x[:3] = x[:3].round()  # some points in a corner of the box
    for steps in (1, 3, 10):
        x_adv = pgd(
            model, x, y, Threat(norm, 0.2), steps=steps, step_size=0.05, random_start="none"
        )
        assert (ce(model, x_adv, y) >= ce(model, x, y) - 1e-12).all()


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("attack", ["pgd", "apgd"])
def test_more_restarts_never_help_the_model(norm, attack):
    model, (x, y) = tiny_mlp(k=3), batch(64, k=3)
    threat = Threat(norm, EPS[norm])
    if attack == "pgd":
        run = functools.partial(pgd, steps=3, step_size=EPS[norm] / 2, random_start="eps")
    else:
        run = functools.partial(apgd, steps=5)

    def outcome(restarts):
        x_adv = run(model, x, y, threat, restarts=restarts, generator=gen())
        with torch.no_grad():
            logits = model(x_adv)
        return F.cross_entropy(logits, y, reduction="none"), logits.argmax(1) != y

    loss1, wrong1 = outcome(1)
    loss4, wrong4 = outcome(4)
    assert (wrong4 >= wrong1).all()
    same = wrong4 == wrong1
    assert (loss4[same] >= loss1[same] - 1e-12).all()
    if attack == "pgd":  # (APGD-ℓ∞ reaches the same vertex from every start here)
        assert (loss4 > loss1 + 1e-9).any()  # the extra restarts did something


def bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Flatten(),
        nn.Linear(16, 5),
    ).double()


@pytest.mark.parametrize("name", list(RUNNERS))
def test_parameters_untouched_and_flags_restored(name):
    model, (x, y) = bn_net(), batch()
    model(x).sum().backward()
    model[0].bias.grad = None  # one parameter without a gradient
    model[5].bias.requires_grad_(False)  # one frozen parameter
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    flags = [p.requires_grad for p in model.parameters()]
    RUNNERS[name](model, x, y, Threat("linf", 0.1), generator=gen())
    for p, g, flag in zip(model.parameters(), grads, flags, strict=True):
        assert p.requires_grad == flag
        assert (p.grad is None) if g is None else torch.equal(p.grad, g)


@pytest.mark.parametrize("mode", ["eval", "train", "keep"])
def test_model_mode_during_and_after(mode):
    model, (x, y) = bn_net(), batch()
    model.train()
    model[3].eval()  # mixed flags must come back exactly
    before = [m.training for m in model.modules()]
    stats = model[1].running_mean.clone()
    seen: list[tuple[bool, bool]] = []
    model.register_forward_pre_hook(lambda m, _: seen.append((m[1].training, m[3].training)))
    pgd(model, x, y, Threat("l2", 0.5), steps=2, step_size=0.1, model_mode=mode)
    expect = {"eval": (False, False), "train": (True, True), "keep": (True, False)}[mode]
    assert seen and all(s == expect for s in seen)
    assert [m.training for m in model.modules()] == before
    assert torch.equal(model[1].running_mean, stats) == (mode == "eval")


def test_flags_restored_when_the_model_raises():
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            raise RuntimeError("boom")

    model = Boom().train()
    with pytest.raises(RuntimeError, match="boom"):
        pgd(
            model,
            torch.rand(2, 4),
            torch.zeros(2, dtype=torch.long),
            Threat(),
            steps=1,
            step_size=0.1,
        )
    assert model.training and model.lin.training
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("name", ["pgd-step", "pgd-eps", "apgd-ce"])
def test_determinism_from_the_generator(name):
    model, (x, y) = tiny_mlp(), batch()
    a = RUNNERS[name](model, x, y, Threat("linf", 0.1), generator=gen(7))
    b = RUNNERS[name](model, x, y, Threat("linf", 0.1), generator=gen(7))
    c = RUNNERS[name](model, x, y, Threat("linf", 0.1), generator=gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_tensor_budgets_match_floats_and_no_grad_callers_work():
    model, (x, y) = tiny_mlp(), batch()
    a = pgd(model, x, y, Threat("linf", 0.1), steps=3, step_size=0.03, generator=gen())
    with torch.no_grad():
        b = pgd(
            model,
            x,
            y,
            Threat("linf", torch.tensor(0.1, dtype=torch.float64)),
            steps=3,
            step_size=torch.tensor(0.03, dtype=torch.float64),
            generator=gen(),
        )
    torch.testing.assert_close(a, b, rtol=0, atol=1e-15)


_TRAINED: dict[tuple[str, float], tuple[nn.Module, torch.Tensor, torch.Tensor]] = {}


def adversarially_trained(norm: str, eps: float):
    """A small MLP PGD-trained (3 steps) on Gaussian clusters in [0,1]^20, 4 classes."""
    if (norm, eps) not in _TRAINED:
        torch.manual_seed(0)
        g = gen(0)
        means = 0.3 + 0.4 * torch.rand(4, 20, generator=g)
        y = torch.randint(0, 4, (256,), generator=g)
        x = (means[y] + 0.08 * torch.randn(256, 20, generator=g)).clamp(0, 1)
        model = nn.Sequential(
            nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)
        )
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        threat, g_attack = Threat(norm, eps), gen(99)
        for _ in range(150):
            x_adv = pgd(model, x, y, threat, steps=3, step_size=eps / 2, generator=g_attack)
            opt.zero_grad()
            F.cross_entropy(model(x_adv), y).backward()
            opt.step()
        _TRAINED[norm, eps] = model, x, y
    return _TRAINED[norm, eps]


def error(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) != y).double().mean().item()


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.3)])
def test_apgd_at_least_as_strong_as_pgd(norm, eps):
    model, x, y = adversarially_trained(norm, eps)
    threat = Threat(norm, eps)
    clean = error(model, x, y)
    e_pgd = error(model, pgd(model, x, y, threat, steps=10, step_size=eps / 4, generator=gen()), y)
    e_apgd = error(model, apgd(model, x, y, threat, steps=10, generator=gen()), y)
    e_dlr = error(model, apgd(model, x, y, threat, steps=10, loss="dlr", generator=gen()), y)
    assert clean < 0.02 and e_pgd > clean + 0.02
    assert e_apgd >= e_pgd and e_dlr > clean + 0.02


def test_apgd_checkpoints_match_the_paper():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 for N = 100
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(1) == []


def test_dlr_by_hand_and_invariances():
    z = torch.tensor([[3.0, 1.0, 2.0, 0.0], [0.0, 4.0, 1.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    # row 0: true is top: −(3 − 2)/(3 − 1); row 1: −(1 − 4)/(4 − 1)
    torch.testing.assert_close(dlr(z, y), torch.tensor([-0.5, 1.0], dtype=torch.float64))
    torch.testing.assert_close(dlr(5 * z - 7, y), dlr(z, y))
    with pytest.raises(UserError, match="3 classes"):
        dlr(z[:, :2], torch.tensor([0, 1]))


def test_ce_of_log_mean_probabilities_is_minus_log_mean_probability():
    probs = torch.softmax(torch.randn(3, 6, 5, dtype=torch.float64), dim=-1).mean(0)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    got = F.cross_entropy(probs.log(), y, reduction="none")
    torch.testing.assert_close(got, -probs[torch.arange(6), y].log())


def test_apgd_dlr_needs_three_classes():
    model, (x, y) = tiny_mlp(k=2), batch(k=2)
    with pytest.raises(UserError, match="3 classes"):
        apgd(model, x, y, Threat(), steps=2, loss="dlr")
    assert all(p.requires_grad for p in model.parameters())


def test_registry():
    assert list_attacks() == sorted(ATTACKS)
    assert list_attacks() == ["apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "fgsm", "pgd", "square"]
    model, (x, y) = tiny_mlp(), batch()
    for name in list_attacks():
        options = {"steps": 2, "step_size": 0.05} if name == "pgd" else {}
        x_adv = get_attack(name)(
            model, x, y, Threat(), generator=gen(), model_mode="eval", **options
        )
        assert x_adv.shape == x.shape
    with pytest.raises(UserError, match="did you mean 'apgd-ce'"):
        get_attack("apgd_ce")


BAD = [
    (lambda: Threat("l1"), "norm"),
    (lambda: Threat("linf", -0.1), "eps must be >= 0"),
    (lambda: Threat("linf", float("nan")), "eps"),
    (lambda: Threat("linf", torch.ones(2)), "0-dim"),
    (lambda: pgd(*_args(), steps=0, step_size=0.1), "steps"),
    (lambda: pgd(*_args(), steps=2.5, step_size=0.1), "steps"),
    (lambda: pgd(*_args(), steps=2, step_size=0.0), "step_size must be > 0"),
    (lambda: pgd(*_args(), steps=2, step_size=torch.tensor(-1.0)), "step_size"),
    (lambda: pgd(*_args(), steps=2, step_size=0.1, restarts=0), "restarts"),
    (lambda: pgd(*_args(), steps=2, step_size=0.1, random_start="ball"), "random_start"),
    (lambda: pgd(*_args(), steps=2, step_size=0.1, loss="xent"), "loss"),
    (lambda: pgd(*_args(), steps=2, step_size=0.1, model_mode="test"), "model_mode"),
    (lambda: apgd(*_args(), steps=0), "steps"),
    (lambda: apgd(*_args(), rho=1.5), "rho"),
    (lambda: fgsm(*_args()[:2], torch.zeros(3, dtype=torch.long), Threat()), "shape"),
]


def _args():
    model, (x, y) = tiny_mlp(), batch()
    return model, x, y, Threat()


@pytest.mark.parametrize("make,match", BAD)
def test_bad_arguments_are_one_line_user_errors(make, match):
    with pytest.raises(UserError, match=match) as err:
        make()
    assert "\n" not in str(err.value)
