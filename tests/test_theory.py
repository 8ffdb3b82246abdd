"""Linear-model theory (paper Sec. 3, App. A.1, A.2, B.1, B.3, B.4): closed forms against brute
force and autograd, Theorem 3, Proposition 1, Theorem 1's collapse, the Fig. 5 sketch,
Theorem 2's bound, and the `theory` tool end to end. Everything in float64."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from advland.analysis.theory import logistic as lg
from advland.analysis.theory import multiclass as mc
from advland.analysis.theory import sketch as sk
from advland.analysis.theory.checks import run_theory
from advland.analysis.theory.config import (
    MulticlassSettings,
    Proposition1Settings,
    Theorem2Settings,
    Theorem3Settings,
    TheoryConfig,
    old_keys,
    theory_config,
)
from advland.errors import UserError

INF = math.inf
LOG3 = math.log(3.0)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _binary(n: int, m: int, seed: int = 0):
    g = _gen(seed)
    x = torch.randn(n, m, generator=g, dtype=torch.float64)
    y = torch.randn(n, generator=g, dtype=torch.float64).sign()
    w = torch.randn(m, generator=g, dtype=torch.float64)
    return x, y, w


# ------------------------------------------------------------------ binary logistic regression
def test_dual_exponent():
    assert lg.dual_exponent(INF) == 1.0
    assert lg.dual_exponent(2) == 2.0
    assert lg.dual_exponent(1) == INF
    assert lg.dual_exponent(3) == pytest.approx(1.5)
    with pytest.raises(UserError, match="p"):
        lg.dual_exponent(0.5)


@pytest.mark.parametrize("p", [INF, 2.0, 1.0, 3.0, 1.5])
def test_closed_form_loss_equals_brute_force_max_2d(p):
    x, y, w = _binary(12, 2, seed=1)
    b, eps = -0.2, 0.4
    closed = lg.adversarial_loss_per_example(x, y, w, eps, p, b)
    # brute force: vertices of the l_inf box / l_1 diamond, a fine angular grid otherwise
    if math.isinf(p):
        d = torch.tensor([[1.0, 1], [1, -1], [-1, 1], [-1, -1]], dtype=torch.float64)
    elif p == 1:
        d = torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1]], dtype=torch.float64)
    else:
        phi = torch.linspace(0, 2 * math.pi, 400_001, dtype=torch.float64)
        d = torch.stack([phi.cos(), phi.sin()], -1)
        d = d / (d.abs() ** p).sum(-1, keepdim=True) ** (1 / p)
    brute = F.softplus(-y[:, None] * ((x[:, None, :] + eps * d) @ w + b)).amax(1)
    assert torch.allclose(closed, brute, atol=1e-9, rtol=0)
    assert bool((closed >= brute - 1e-12).all())  # the closed form is the max, never below


@pytest.mark.parametrize("p", [INF, 2.0, 1.0, 3.0])
def test_worst_case_perturbation_is_feasible_and_optimal(p):
    x, y, w = _binary(20, 5, seed=2)
    eps = 0.3
    x_adv = lg.worst_case_perturbation(x, y, w, eps, p)
    assert bool((torch.linalg.vector_norm(x_adv - x, ord=p, dim=-1) <= eps * (1 + 1e-12)).all())
    reached = F.softplus(-y * (x_adv @ w))
    assert torch.allclose(reached, lg.adversarial_loss_per_example(x, y, w, eps, p), atol=1e-13)
    if math.isinf(p):
        assert torch.equal(x_adv, x - eps * y[:, None] * w.sign())


def test_worst_case_l1_vertex_and_zero_coordinate_convention():
    x, y = torch.zeros(1, 3, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    w = torch.tensor([0.5, -2.0, 1.0], dtype=torch.float64)
    # p = 1: all budget on the largest |w_i|, against the label
    assert torch.equal(
        lg.worst_case_perturbation(x, y, w, 0.1, 1.0),
        torch.tensor([[0, 0.1, 0.0]], dtype=torch.float64),
    )
    # p = inf: a zero weight leaves its coordinate unperturbed (sign(0) = 0)
    w0 = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64)
    assert torch.equal(
        lg.worst_case_perturbation(x, y, w0, 0.1, INF),
        torch.tensor([[0, -0.1, 0.1]], dtype=torch.float64),
    )


@pytest.mark.parametrize("p", [INF, 2.0, 1.0, 3.0, 1.5])
@pytest.mark.parametrize("with_bias", [False, True])
def test_closed_form_gradient_and_hessian_match_autograd(p, with_bias):
    x, y, w = _binary(25, 4, seed=3)
    b, eps = 0.3, 0.7

    def f(v):
        return lg.adversarial_loss(x, y, v[:4], eps, p, v[4] if with_bias else b)

    v = torch.cat([w, w.new_tensor([b])]) if with_bias else w.clone()
    v_req = v.clone().requires_grad_(True)
    (auto_g,) = torch.autograd.grad(f(v_req), v_req)
    auto_h = torch.autograd.functional.hessian(f, v)
    g = lg.adversarial_loss_grad(x, y, w, eps, p, b, with_bias=with_bias)
    h = lg.adversarial_loss_hessian(x, y, w, eps, p, b, with_bias=with_bias)
    assert (g - auto_g).abs().max() < 1e-10
    assert (h - auto_h).abs().max() < 1e-10


def test_l1_subgradient_convention_at_zero_coordinates_matches_autograd():
    x, y, _ = _binary(10, 3, seed=4)
    w = torch.tensor([0.0, 1.5, -0.5], dtype=torch.float64)
    w_req = w.clone().requires_grad_(True)
    (auto_g,) = torch.autograd.grad(lg.adversarial_loss(x, y, w_req, 0.5, INF), w_req)
    assert (lg.adversarial_loss_grad(x, y, w, 0.5, INF) - auto_g).abs().max() < 1e-12
    assert torch.equal(lg.norm_q_grad(w, 1.0), torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64))
    # ties for q = inf: the subgradient is split equally (a convex combination)
    tie = torch.tensor([2.0, -2.0, 1.0], dtype=torch.float64)
    assert torch.equal(
        lg.norm_q_grad(tie, INF), torch.tensor([0.5, -0.5, 0.0], dtype=torch.float64)
    )
    with pytest.raises(UserError, match="unbounded"):
        lg.norm_q_hessian(w, 1.5)


def _pgd_input(x, y, w, eps, p, steps=100):
    # independent numerical attack on the input (not the library's)
    delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        (g,) = torch.autograd.grad(F.softplus(-y * ((x + delta) @ w)).sum(), delta)
        with torch.no_grad():
            if math.isinf(p):
                delta = (delta + 0.1 * eps * g.sign()).clamp(-eps, eps)
            else:
                delta = delta + 0.1 * eps * g / g.norm(dim=-1, keepdim=True)
                delta = delta * (eps / delta.norm(dim=-1, keepdim=True)).clamp(max=1.0)
    return F.softplus(-y * ((x + delta) @ w))


@pytest.mark.parametrize("p", [INF, 2.0])
def test_pgd_on_the_input_reaches_but_never_exceeds_the_closed_form(p):
    x, y, w = _binary(30, 6, seed=5)
    closed = lg.adversarial_loss_per_example(x, y, w, 0.25, p)
    pgd = _pgd_input(x, y, w, 0.25, p)
    assert bool((pgd <= closed + 1e-12).all())
    assert (closed - pgd).max() < 1e-9
    assert (lg.pgd_input_attack(x, y, w, 0.25, p) - closed).abs().max() < 1e-9


def test_bad_inputs_raise_user_errors():
    x, y, w = _binary(4, 2)
    with pytest.raises(UserError, match="eps"):
        lg.adversarial_loss(x, y, w, -0.1, INF)
    with pytest.raises(UserError, match="-1 or \\+1"):
        lg.adversarial_loss(x, (y > 0).to(x.dtype), w, 0.1, INF)


# ------------------------------------------------------------------ Theorem 3
def test_theorem3_hessian_grows_with_eps_on_separable_data():
    g = _gen(6)
    x, y, w = lg.separable_binary_data(150, 4, 0.5, INF, g)
    assert lg.norm_q(w, 1.0) == pytest.approx(1.0)
    margins = y * (x @ w)
    eps_hat = float(margins.min())
    assert eps_hat >= 0.5
    # separable under S_eps_hat: the worst-case input is still on the right side
    x_adv = lg.worst_case_perturbation(x, y, w, eps_hat, INF)
    assert bool((y * (x_adv @ w) >= -1e-12).all())
    eps = torch.linspace(0, eps_hat, 12).tolist()
    H = torch.stack([lg.theorem3_hessian(x, y, w, e) for e in eps])
    H_auto = torch.stack(
        [
            torch.autograd.functional.hessian(lambda v, e=e: lg.theorem3_loss(x, y, v, e), w)
            for e in eps
        ]
    )
    assert (H - H_auto).abs().max() < 1e-10
    m = torch.randn(300, 4, generator=g, dtype=torch.float64)
    m = m / m.norm(dim=-1, keepdim=True)
    quad = torch.einsum("dm,emn,dn->de", m, H, m)
    assert bool((quad.diff(dim=-1) >= -1e-14).all())
    ev = torch.linalg.eigvalsh(H)
    assert bool((ev[:, -1].diff() >= -1e-14).all()) and bool((ev[:, 0].diff() >= -1e-14).all())
    assert ev[-1, -1] > ev[0, -1]  # strictly larger at eps_hat than at 0


# ------------------------------------------------------------------ multi-class linear models
def _clusters(seed=7, m=2):
    return mc.cluster_data(15, 3, m, 1.0, 0.15, _gen(seed))


def test_exact_linf_loss_is_the_max_over_the_box():
    x, y = _clusters(m=3)
    g = _gen(8)
    W = torch.randn(3, 3, generator=g, dtype=torch.float64)
    eps = 0.4
    exact, x_adv = mc.exact_linf_adversarial(x, y, W, eps)
    assert torch.allclose((x_adv - x).abs(), torch.full_like(x, eps))  # a vertex of the box
    assert torch.allclose(mc.ce_loss_per_example(x_adv, y, W), exact, atol=1e-13)
    # brute force: dense random points of the box, and a fine grid of it, never exceed it
    u = torch.rand(4000, *x.shape, generator=g, dtype=torch.float64)
    dense = mc.ce_loss_per_example(x + (2 * u - 1) * eps, y, W).amax(0)
    assert bool((dense <= exact + 1e-12).all())
    t = torch.linspace(-eps, eps, 21, dtype=torch.float64)
    grid = torch.cartesian_prod(t, t, t)  # includes all 8 vertices
    brute = mc.ce_loss_per_example(x[:, None, :] + grid, y[:, None], W).amax(1)
    assert torch.allclose(brute, exact, atol=1e-12)
    pgd, _ = mc.pgd_linf_adversarial(x, y, W, eps, restarts=5, generator=g)
    low, _ = mc.bound13_lower(x, y, W, eps)
    up = mc.pairwise_upper_bound(x, y, W, eps)
    assert bool((pgd <= exact + 1e-12).all() and (low <= exact + 1e-12).all())
    assert bool((exact <= up + 1e-12).all())


def test_exact_enumeration_refuses_large_dimensions():
    x = torch.zeros(2, 20, dtype=torch.float64)
    with pytest.raises(UserError, match="pgd_linf_adversarial"):
        mc.exact_linf_adversarial(x, torch.zeros(2, dtype=torch.long), torch.zeros(20, 3), 0.1)


def test_zero_model_has_loss_log_K_for_every_eps():
    x, y = _clusters()
    grid = [0.0, 0.1, 1.0, 10.0, 1e3]
    for K in (3, 5):
        yk = y % K
        loss, _ = mc.exact_linf_adversarial(
            x, yk, torch.zeros(len(grid), 2, K, dtype=torch.float64), grid
        )
        assert torch.allclose(loss, torch.full_like(loss, math.log(K)), atol=1e-14)


def test_danskin_subgradient_matches_autograd():
    x, y = _clusters(m=3)
    W = torch.randn(4, 3, 3, generator=_gen(9), dtype=torch.float64)  # a batch of 4 models
    eps = torch.tensor([0.0, 0.1, 0.3, 0.6], dtype=torch.float64)
    Wr = W.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(mc.exact_linf_adversarial(x, y, Wr, eps)[0].mean(-1).sum(), Wr)
    _, grad = mc.exact_linf_loss_and_grad(x, y, W, eps)
    assert (auto - grad).abs().max() < 1e-12


def test_version_space_closed_form_and_nestedness_prop1():
    x, y = _clusters(m=3)
    S = torch.randn(2000, 3, 3, generator=_gen(10), dtype=torch.float64)
    grid = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6]
    per_point, dataset, nested = mc.version_space_fractions(x, y, S, grid)
    assert nested
    assert bool((per_point.diff() <= 0).all()) and bool((dataset.diff() <= 0).all())
    assert per_point[0] > 0.2 and per_point[-1] == 0
    # explicit implication on every (W, x_i) pair and every eps1 < eps2
    mem = torch.stack([mc.in_version_space(x, y, S, e) for e in grid])
    for i in range(len(grid)):
        for j in range(i + 1, len(grid)):
            assert bool((~mem[j] | mem[i]).all())
    # closed form = "every vertex of the box keeps y with a (weakly) largest logit"
    W = S[:300]
    V = mc.vertices(3)
    z = (x[:, None, :] + 0.2 * V).unsqueeze(0) @ W.unsqueeze(1)  # (S, N, 8, K)
    brute = (z <= z.gather(-1, y[None, :, None, None].expand(300, -1, 8, 1))).all(-1).all(-1)
    assert torch.equal(brute, mc.in_version_space(x, y, W, 0.2))


def test_collapse_to_constant_classifier_beyond_the_threshold():
    x, y = _clusters()
    eps_star = mc.exact_collapse_threshold(x, y, 3)
    grid = [0.0, 0.5 * eps_star, 1.5 * eps_star, 3.0 * eps_star]
    res = mc.train_linear_adversarial(x, y, 3, grid, steps=1500, lr=0.5, generator=_gen(11))
    # eps = 0 (and well below eps*): a real classifier, loss far below log K
    assert res.centered_norm[0] > 1.0 and res.loss[0] < 0.1 and res.robust_accuracy[0] > 0.95
    assert res.centered_norm[1] > 1.0 and res.loss[1] < LOG3 - 0.1
    # well above: ||W - mean column|| ~ 0 and loss ~ log K, the constant classifier
    assert bool((res.centered_norm[2:] < 1e-2).all())
    assert bool(((res.loss[2:] - LOG3).abs() < 1e-4).all())


def test_exact_collapse_threshold_formula():
    # one point: W = 0 is optimal iff the box contains the origin, i.e. eps >= ||x||_inf
    x = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    assert mc.exact_collapse_threshold(x, torch.tensor([1]), 3) == pytest.approx(0.7)
    # balanced classes: half the largest per-coordinate spread of the class means
    x, y = _clusters()
    means = torch.stack([x[y == k].mean(0) for k in range(3)])
    spread = ((means.amax(0) - means.amin(0)) / 2).max()
    assert mc.exact_collapse_threshold(x, y, 3) == pytest.approx(float(spread), abs=1e-14)
    # above eps*, no small step away from W = 0 lowers the loss (0 is a minimiser)
    eps = 1.02 * mc.exact_collapse_threshold(x, y, 3)
    D = torch.randn(500, 2, 3, generator=_gen(12), dtype=torch.float64)
    loss, _ = mc.exact_linf_adversarial(x, y, 1e-3 * D, torch.full((500,), eps))
    assert bool((loss.mean(-1) >= LOG3 - 1e-12).all())


def test_eps_bar_bound_lemma_eq13():
    x, y = _clusters(m=3)
    W = torch.randn(50, 3, 3, generator=_gen(13), dtype=torch.float64) * 3
    bar = mc.eps_bar_bound(x, y, W).clamp_min(0)  # (50, N)
    for i in range(len(x)):
        loss, _ = mc.exact_linf_adversarial(x[i : i + 1], y[i : i + 1], W, bar[:, i])
        assert bool((loss >= LOG3 - 1e-12).all())
        # eq. 13's analytic lower bound also sits at or above log K there
        low, _ = mc.bound13_lower(x[i : i + 1], y[i : i + 1], W, bar[:, i])
        assert bool((low >= LOG3 - 1e-12).all())
    # the expression depends on the scale of W: it grows without bound as W -> 0 (K >= 3)
    small = mc.eps_bar_bound(x, y, 1e-6 * W[:1])
    assert bool((small > 1e3).all())


# ------------------------------------------------------------------ Fig. 5 sketch and Theorem 2
@pytest.mark.parametrize("x", [1.0, -0.5, 2.0])
@pytest.mark.parametrize("eps", [0.0, 0.6, 1.2])
def test_sketch_jump_at_zero_equals_2_eps_sigmoid0(x, eps):
    assert sk.sketch_jump(x, eps) == pytest.approx(2 * eps * 0.5, abs=1e-14)
    assert sk.sketch_jump_analytic(eps) == pytest.approx(eps, abs=1e-15)
    # one-sided finite differences of g_eps agree with the jump
    h = 1e-6
    zero = torch.zeros((), dtype=torch.float64)
    g0 = sk.sketch_adv_loss(zero, x, eps)
    right = (sk.sketch_adv_loss(zero + h, x, eps) - g0) / h
    left = (g0 - sk.sketch_adv_loss(zero - h, x, eps)) / h
    assert float(right - left) == pytest.approx(eps, abs=1e-5)
    assert sk.sketch_jump(x, eps) <= sk.gradient_gap_bound(eps, sk.sketch_lipschitz_theta_x())


def test_sketch_adversarial_loss_is_max_over_the_interval():
    theta = torch.linspace(-2, 2, 81, dtype=torch.float64)
    xp = 1.0 + torch.linspace(-0.6, 0.6, 1201, dtype=torch.float64)
    brute = F.softplus(theta[:, None] * xp[None, :]).amax(1)
    assert torch.allclose(sk.sketch_adv_loss(theta, 1.0, 0.6), brute, atol=1e-12)
    lo, _ = sk.sketch_band(theta, 1.0, 0.6)
    assert torch.allclose(lo, F.softplus(theta[:, None] * xp[None, :]).amin(1), atol=1e-12)


def test_sketch_lipschitz_constant():
    L = sk.sketch_lipschitz_theta_x()
    u = torch.tensor(2.3994, dtype=torch.float64)  # near the argmax of sigma(u) + u sigma'(u)
    s = torch.sigmoid(u)
    assert abs(L - float(s + u * s * (1 - s))) < 1e-6
    assert sk.gradient_gap_bound(0.5, 2.0) == 2.0
    assert sk.gradient_gap_bound(0.5, 2.0, L_theta_theta=3.0, dist=0.1) == pytest.approx(2.3)


def test_theorem2_bound_values_and_validation():
    assert sk.theorem2_bound(2) == 1.0
    assert sk.theorem2_bound(4) == pytest.approx(1 / 3, abs=1e-15)
    assert sk.theorem2_bound(3.0) == pytest.approx(4 / 7)
    vec = sk.theorem2_bound(torch.tensor([2.0, 4.0]))
    assert torch.allclose(vec, torch.tensor([1.0, 1 / 3], dtype=torch.float64))
    for bad in (1.9, -3, math.inf, math.nan):
        with pytest.raises(UserError, match="gamma >= 2"):
            sk.theorem2_bound(bad)


def test_sgd_gradients_vanish_only_without_a_budget():
    xs = torch.randn(16, generator=_gen(14), dtype=torch.float64) + 0.2
    norms = sk.sketch_sgd_grad_norms(xs, [0.0, 1.0], 1000, _gen(15))
    late = norms[:, 500:].mean(-1)
    assert late[0] < 0.05 and late[1] > 0.3  # the kink at 0 keeps |grad| ~ (eps -+ mean x)/2


# ------------------------------------------------------------------ the tool
def test_run_theory_writes_json_and_figures_and_all_checks_pass(tmp_path, capsys):
    cfg = TheoryConfig(
        multiclass=MulticlassSettings(steps=1200),
        proposition1=Proposition1Settings(samples=4000),
        theorem2=Theorem2Settings(steps=1000),
    )
    record = run_theory(cfg, tmp_path)
    failed = [c["name"] for c in record["checks"] if not c["passed"]]
    assert not failed, failed
    text = (tmp_path / "theory.json").read_text()
    on_disk = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert on_disk["all_passed"] is True
    assert len(on_disk["checks"]) == 11
    for c in on_disk["checks"]:
        assert set(c) >= {"name", "claim", "measured", "passed"}
    for stem in (
        "fig5_sketch",
        "theorem3_hessian_eigenvalues",
        "multiclass_collapse",
        "version_space",
    ):
        for ext in ("png", "pdf", "json"):
            assert (tmp_path / f"{stem}.{ext}").stat().st_size > 0
    assert (tmp_path / "fig5_sketch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "multiclass_collapse_theorem1" in capsys.readouterr().out


def test_theory_config_validation():
    with pytest.raises(UserError, match="mc_eps_grid"):
        TheoryConfig(mc_eps_grid=(0.5, 0.1))
    with pytest.raises(UserError, match="mc_classes"):
        TheoryConfig(mc_classes=2)
    with pytest.raises(UserError, match="thm2_gammas"):
        TheoryConfig(thm2_gammas=(1.0,))


def test_theory_config_nested_sections_validate_next_to_the_field():
    with pytest.raises(UserError, match=r"multiclass\.eps_grid must be a non-empty increasing"):
        TheoryConfig(multiclass=MulticlassSettings(eps_grid=(0.5, 0.1)))
    with pytest.raises(UserError, match=r"multiclass\.dim must be <= 12, got 13"):
        theory_config({"multiclass": {"dim": 13}})
    with pytest.raises(UserError, match=r"theorem2\.gammas must be >= 2"):
        TheoryConfig(theorem2=Theorem2Settings(gammas=(1.0,)))
    with pytest.raises(UserError, match="did you mean 'seed'"):
        theory_config({"sed": 1})


def test_old_flat_theory_keys_map_to_sections_with_a_deprecation_warning():
    assert (
        old_keys()["thm3_n"] == "theorem3.n" and old_keys()["vs_samples"] == "proposition1.samples"
    )
    assert len(old_keys()) == 29  # every field of every section
    nested = TheoryConfig(theorem3=Theorem3Settings(n=50), multiclass=MulticlassSettings(steps=9))
    with pytest.warns(DeprecationWarning, match="'thm3_n' is deprecated; use 'theorem3.n'"):
        assert TheoryConfig(thm3_n=50, mc_steps=9) == nested
    with pytest.warns(DeprecationWarning, match="thm3_n"):
        assert theory_config({"thm3_n": 50, "multiclass": {"steps": 9}}) == nested
    seen = []
    assert (
        theory_config({"mc_steps": 9}, on_old_key=lambda *k: seen.append(k)).multiclass.steps == 9
    )
    assert seen == [("mc_steps", "multiclass.steps")]
    # an error about a value set through an old key names that key, as typed
    with pytest.raises(UserError, match=r"^'thm3_n' must be an integer, got 'lots'$"):
        theory_config({"thm3_n": "lots"})
    with pytest.raises(UserError, match="set the same value"):
        theory_config({"thm3_n": 5, "theorem3": {"n": 6}})


def test_plots_without_matplotlib_say_how_to_install(monkeypatch, tmp_path):
    from advland.reporting import plot_theory

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    with pytest.raises(UserError, match=r"pip install 'advland\[plot\]'"):
        plot_theory.plot_version_space(
            {"eps": [0], "per_point_fraction": [1], "dataset_fraction": [1]}, tmp_path / "v"
        )
