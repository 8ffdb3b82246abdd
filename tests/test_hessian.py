"""Hessian-vector products and eigensolvers against exact linear algebra (float64)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from advland.analysis.hessian.eigen import DenseOperator
from advland.analysis.hessian.hvp import HessianOperator, eval_mode
from advland.analysis.hessian.lanczos import lanczos
from advland.analysis.hessian.power import power_iteration
from advland.analysis.params import (
    add_to_params,
    flatten,
    norm,
    random_direction,
    trainable,
    unflatten,
)
from advland.errors import UserError

N_EXAMPLES = 64


def tiny_net(seed: int = 0, batchnorm: bool = False) -> nn.Module:
    """10 → 24 → 10 MLP, 514 parameters (562 with BatchNorm), float64."""
    torch.manual_seed(seed)
    mid = [nn.BatchNorm1d(24)] if batchnorm else []
    return nn.Sequential(nn.Linear(10, 24), *mid, nn.Tanh(), nn.Linear(24, 10)).double()


def data(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N_EXAMPLES, 10, generator=g, dtype=torch.float64)
    return x, torch.randint(0, 10, (N_EXAMPLES,), generator=g)


def dense_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    params = trainable(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]

    def loss(flat: torch.Tensor) -> torch.Tensor:
        p = dict(zip(names, unflatten(flat, params), strict=True))
        return F.cross_entropy(functional_call(model, p, (x,)), y)

    with eval_mode(model):
        return torch.autograd.functional.hessian(
            loss, flatten(params).detach(), vectorize=True, outer_jacobian_strategy="forward-mode"
        )


@pytest.fixture(scope="module")
def problem():
    model = tiny_net(batchnorm=True)
    x, y = data()
    model.train()
    model(x)  # non-trivial running statistics, so eval mode matters
    H = dense_hessian(model, x, y).detach()
    return model, x, y, H, torch.linalg.eigvalsh(H).flip(0)


@pytest.mark.parametrize("method", ["func", "autograd"])
def test_hvp_matches_central_finite_differences(method):
    model, (x, y) = tiny_net(), data()
    op = HessianOperator(model, x, y, method=method)
    v = random_direction(model, torch.Generator().manual_seed(3))
    h = 1e-5
    add_to_params(model, v, h)
    g_plus = op.gradient()
    add_to_params(model, v, -2 * h)
    g_minus = op.gradient()
    add_to_params(model, v, h)
    fd = [(a - b) / (2 * h) for a, b in zip(g_plus, g_minus, strict=True)]
    hv = op.hvp(v)
    err = norm([a - b for a, b in zip(hv, fd, strict=True)]) / norm(fd)
    assert err < 1e-3
    assert op.num_hvps == 1


@pytest.mark.parametrize("method", ["func", "autograd"])
@pytest.mark.parametrize("batch_size", [N_EXAMPLES, 24])  # 24: uneven last batch
def test_hvp_matches_dense_hessian(problem, method, batch_size):
    model, x, y, H, _ = problem
    assert H.shape[0] >= 500
    op = HessianOperator(model, x, y, batch_size=batch_size, method=method)
    v = torch.randn(op.dim, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert torch.allclose(op.matvec(v), H @ v, rtol=0, atol=1e-12)
    assert op.dtype == torch.float64


@pytest.mark.parametrize("method", ["func", "autograd"])
def test_matmat_is_one_matvec_per_row(problem, method):
    model, x, y, H, _ = problem
    op = HessianOperator(model, x, y, batch_size=24, method=method)
    block = torch.randn(5, op.dim, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.allclose(op.matmat(block), block @ H, rtol=0, atol=1e-12)
    assert op.num_hvps == 5
    dense = DenseOperator(H)
    assert torch.allclose(dense.matmat(block), block @ H) and dense.num_hvps == 5


def test_lanczos_top20_matches_eigvalsh(problem):
    model, x, y, H, ref = problem
    op = HessianOperator(model, x, y, method="autograd")  # lower overhead on tiny nets
    res = lanczos(op, 20, tol=1e-6, generator=torch.Generator().manual_seed(0))
    assert torch.all(res.eigenvalues[:-1] >= res.eigenvalues[1:])
    rel = (res.eigenvalues - ref[:20]).abs() / ref[:20].abs()
    assert rel.max() <= 1e-6
    assert res.all_converged
    # Residuals are measured with one extra product each, and are genuine ‖Hv − λv‖.
    assert res.residual_kind == "measured" and res.residual_hvps == 20
    assert op.num_hvps == res.num_hvps + res.residual_hvps
    exact = (res.eigenvectors @ H - res.eigenvalues[:, None] * res.eigenvectors).norm(dim=1)
    assert torch.allclose(res.residuals, exact, atol=1e-12)
    assert res.relative_residuals().max() <= 1e-6
    assert torch.allclose(res.eigenvectors @ res.eigenvectors.T, torch.eye(20).double(), atol=1e-8)


def test_power_iteration_top_few_within_tolerance(problem):
    model, x, y, H, ref = problem
    op = HessianOperator(model, x, y, method="autograd")
    res = power_iteration(op, 3, max_iter=50, tol=1e-3, generator=torch.Generator().manual_seed(0))
    assert res.num_hvps == op.num_hvps <= 150 and res.residual_kind == "exact"
    top = torch.linalg.eigvalsh(H).abs().flip(0)  # power iteration targets magnitude
    assert ref[0] == top[0]
    rel = (res.eigenvalues - ref[:3]).abs() / ref[:3].abs()
    assert rel.max() < 1e-2, rel
    exact = (res.eigenvectors @ H - res.eigenvalues[:, None] * res.eigenvectors).norm(dim=1)
    assert torch.allclose(res.residuals, exact, atol=1e-10)
    tight = power_iteration(DenseOperator(H), 3, max_iter=5000, tol=1e-12)
    assert ((tight.eigenvalues - ref[:3]).abs() / ref[:3]).max() < 1e-6


def test_operator_holds_adversarial_inputs_fixed():
    model, (x, y) = tiny_net(batchnorm=True), data()
    model.train()
    model[2].train(False)  # a mixed state that must come back exactly
    modes = [m.training for m in model.modules()]
    stats = [b.clone() for b in model.buffers()]
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    calls, seen_modes = [], []
    g = torch.Generator().manual_seed(0)

    def noisy_attack(m, xb, yb):
        calls.append(xb.shape[0])
        seen_modes.append(m.training)
        return xb + 0.1 * torch.randn(xb.shape, generator=g, dtype=xb.dtype)

    op = HessianOperator.at_adversarial(model, x, y, noisy_attack, batch_size=24)
    assert calls == [24, 24, 16] and seen_modes == [False] * 3
    v = random_direction(model, torch.Generator().manual_seed(5))
    first, second = op.hvp(v), op.hvp(v)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert len(calls) == 3  # the attack ran once, not per product
    assert not torch.equal(op.inputs, x)
    assert [m.training for m in model.modules()] == modes
    assert all(torch.equal(a, b) for a, b in zip(stats, model.buffers(), strict=True))
    assert all(torch.all(p.grad == 7.0) for p in model.parameters())


def test_lanczos_restarts_breakdown_and_which():
    g = torch.Generator().manual_seed(0)
    n = 300
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    ends = torch.tensor([-4.5, -6.5])  # well separated: both low ends converge fast
    ev = torch.cat([torch.linspace(5.0, 1.0, 12), torch.linspace(0.9, -3.0, n - 14), ends])
    A = Q @ torch.diag(ev.double()) @ Q.T
    ref = torch.linalg.eigvalsh(A)
    res = lanczos(DenseOperator(A), 6, ncv=14, tol=1e-10, max_iter=3000)
    assert res.restarts > 0 and res.all_converged
    assert torch.allclose(res.eigenvalues, ref.flip(0)[:6], rtol=1e-9)
    low = lanczos(DenseOperator(A), 2, which="SA", tol=1e-10)
    assert torch.allclose(low.eigenvalues, ends.double(), rtol=1e-9)
    big = lanczos(DenseOperator(A), 2, which="LM", tol=1e-10)
    assert torch.allclose(big.eigenvalues, torch.tensor([5.0, -6.5]).double(), rtol=1e-9)
    # Rank-3 operator: the Krylov space is invariant after 3 steps (breakdown handled).
    low_rank = Q[:, :3] @ torch.diag(torch.tensor([3.0, 2.0, 1.0]).double()) @ Q[:, :3].T
    res = lanczos(DenseOperator(low_rank), 4, tol=1e-10)
    assert torch.allclose(res.eigenvalues, torch.tensor([3.0, 2.0, 1.0, 0.0]).double(), atol=1e-10)


def test_eigen_result_vectors_and_errors(problem):
    model, x, y, _, _ = problem
    op = HessianOperator(model, x, y, method="autograd")
    res = lanczos(op, 2, tol=1e-2)
    vec = res.vector(0, trainable(model))
    assert [t.shape for t in vec] == [p.shape for p in trainable(model)]
    assert torch.isclose(norm(vec), torch.tensor(1.0).double())
    summary = res.summary()
    assert summary["num_hvps"] == res.num_hvps and len(summary["eigenvalues"]) == 2
    with pytest.raises(UserError):
        lanczos(op, 0)
    with pytest.raises(UserError):
        power_iteration(op, 3, tol=0)
    with pytest.raises(UserError):
        HessianOperator(model, x, y, method="magic")
