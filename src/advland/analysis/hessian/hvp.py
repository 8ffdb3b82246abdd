"""Matrix-free Hessian-vector products of the adversarial loss at fixed adversarial examples.

The operator represents H = ∇²_θ L(θ) with L(θ) = mean_i CE(f_θ(x'_i), y_i) over a FIXED
data subset. The adversarial examples x' are generated once at the current θ and then
detached, so H is the Hessian of the adversarial loss *at fixed x'* — the semantics of the
paper's reference code (the dependence of x' on θ is not differentiated through).

The model runs in eval mode for the attack and for every product (BatchNorm uses its
running statistics, so H is the Hessian of a fixed function and nothing is polluted); the
modes of all submodules are restored afterwards. Products use `torch.autograd.grad` /
`torch.func` only, so the parameters' `.grad` fields are never touched.

The subset is processed in mini-batches: each batch contributes CE_sum(batch) / N, so the
accumulated product is exactly the Hessian of the mean over the subset.

Two ways to compute a product, same result (tests check both against the dense Hessian):
- "func" (default): forward-over-reverse — the parameters become forward-mode dual tensors
  (tangent v) and the tangent of the autograd gradient is H·v. On LeNet/CPU (float32,
  batch 64–128, one thread) one product costs 2.6–3.0× a gradient, vs 2.9–3.5× for double
  backward, and 5–15% less than the same computation as `torch.func.jvp(torch.func.grad)`
  (no functorch layers per op; bit-identical result);
- "autograd": double backward, grad(⟨∇L, v⟩) with `create_graph=True`; also the fallback
  for layers without forward-mode AD support.
`benchmarks/bench_eigensolvers.py` re-measures both against one gradient.

Data parallel (torchrun): each rank keeps its contiguous shard of the subset, computes the
sum over its shard (CE_sum / N with N the whole subset's size) and the products, gradients
and losses are summed over the ranks (one all-reduce each), so every rank holds the
full-subset result and an eigensolver runs identically on every rank. The adversarial
examples are generated for the whole subset on every rank (the same x' as one process;
one attack costs a few products).

`matmat` multiplies several vectors at once (`torch.func.jvp` of `torch.func.grad`, vmapped
over the tangents: the primal forward/backward is shared; 2-2.5x cheaper than separate
products for 20 vectors on LeNet/CPU, same result); eigensolvers use it for residuals.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.autograd.forward_ad as fwad
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jvp, vmap
from torch.func import grad as func_grad

from advland import distributed
from advland.analysis.params import Vec, flatten, trainable, unflatten
from advland.errors import UserError

# (model, x, y) -> x_adv; called once per mini-batch with the model already in eval mode.
Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
HVP_METHODS = ("func", "autograd")
MATMAT_CHUNK = 10  # tangents per vmapped call: bounds activation memory on large models


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode; restore each one's own mode on exit."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes.items():
            m.training = mode


def adversarial_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Attack | None,
    batch_size: int,
) -> torch.Tensor:
    """Run `attack` once over (x, y) batch by batch in eval mode; None means clean inputs."""
    if attack is None:
        return x.detach().clone()
    out = []
    with eval_mode(model):
        for i in range(0, x.shape[0], batch_size):
            out.append(attack(model, x[i : i + batch_size], y[i : i + batch_size]).detach())
    return torch.cat(out)


class HessianOperator:
    """H·v for the mean cross-entropy over fixed inputs (see module docstring).

    `hvp(v)` takes and returns a parameter vector (list of tensors, `params.Vec`);
    `matvec(flat)` does the same on one flat tensor (the layout of `params.flatten`), for
    solvers. `num_hvps` counts full-subset products. dtype and device follow the model.
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        *,
        batch_size: int = 256,
        method: str = "func",
    ) -> None:
        if method not in HVP_METHODS:
            raise UserError(f"hvp method must be one of {HVP_METHODS}, got {method!r}")
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}; pass a positive size")
        if inputs.shape[0] != targets.shape[0] or inputs.shape[0] == 0:
            raise UserError(
                f"inputs ({inputs.shape[0]}) and targets ({targets.shape[0]}) must be "
                "non-empty and of equal length; pass matching tensors"
            )
        self.model = model
        self.params = trainable(model)
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        p0 = self.params[0]
        self.dtype, self.device = p0.dtype, p0.device
        self.dim = sum(p.numel() for p in self.params)
        # the whole subset's size (the mean's denominator); under torchrun this rank's shard
        self.total = inputs.shape[0]
        part = distributed.shard(self.total)
        self.inputs = part.take(inputs.detach()).to(device=self.device, dtype=self.dtype).clone()
        self.targets = part.take(targets.detach()).to(device=self.device, dtype=torch.long).clone()
        self.batch_size = batch_size
        self.method = method
        self.num_hvps = 0

    @classmethod
    def at_adversarial(
        cls,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        attack: Attack | None,
        *,
        batch_size: int = 256,
        method: str = "func",
    ) -> HessianOperator:
        """Generate x' = attack(θ, x, y) once (eval mode) and hold it fixed."""
        p0 = trainable(model)[0]
        x = x.to(device=p0.device, dtype=p0.dtype)
        y = y.to(device=p0.device)
        x_adv = adversarial_examples(model, x, y, attack, batch_size)
        return cls(model, x_adv, y, batch_size=batch_size, method=method)

    @property
    def num_examples(self) -> int:
        """Size of the whole subset (over all ranks)."""
        return self.total

    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(0, self.inputs.shape[0], self.batch_size):
            yield self.inputs[i : i + self.batch_size], self.targets[i : i + self.batch_size]

    def _batch_loss(self, logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        # Sum over the batch / N: batches (and ranks) then add up to the exact subset mean.
        return F.cross_entropy(logits, yb, reduction="sum") / self.total

    @torch.no_grad()
    def loss(self) -> float:
        """L(θ) at the fixed inputs (mean cross-entropy); one host sync at the end."""
        total = torch.zeros((), dtype=self.dtype, device=self.device)
        with eval_mode(self.model):
            for xb, yb in self._batches():
                total += self._batch_loss(self.model(xb), yb)
        distributed.all_reduce_sum([total])
        return float(total)

    def gradient(self) -> Vec:
        """∇L(θ) as a parameter vector (does not count as an HVP)."""
        out = [torch.zeros_like(p) for p in self.params]
        with eval_mode(self.model):
            for xb, yb in self._batches():
                loss = self._batch_loss(self.model(xb), yb)
                grads = torch.autograd.grad(loss, self.params, allow_unused=True)
                for o, g in zip(out, grads, strict=True):
                    if g is not None:
                        o += g
        distributed.all_reduce_sum(out)
        return out

    def hvp(self, v: Sequence[torch.Tensor]) -> Vec:
        """H·v for a parameter vector `v` shaped like the trainable parameters."""
        if len(v) != len(self.params):
            raise UserError(
                f"vector has {len(v)} tensors but the model has {len(self.params)} "
                "trainable parameters; build it with advland.analysis.params"
            )
        v = [t.to(device=p.device, dtype=p.dtype) for t, p in zip(v, self.params, strict=True)]
        out = [torch.zeros_like(p) for p in self.params]
        batch_hvp = self._batch_hvp_func if self.method == "func" else self._batch_hvp_autograd
        with eval_mode(self.model):
            for xb, yb in self._batches():
                # Fresh buffers: a batch result may alias v (autograd passes grad_outputs
                # through some backward nodes unchanged), so never add into it in place.
                for o, h in zip(out, batch_hvp(xb, yb, v), strict=True):
                    o += h
        distributed.all_reduce_sum(out)
        self.num_hvps += 1
        return out

    def matvec(self, flat: torch.Tensor) -> torch.Tensor:
        """H·v on flat vectors (the layout of `params.flatten`)."""
        return flatten(self.hvp(unflatten(flat, self.params)))

    __call__ = matvec

    def matmat(self, block: torch.Tensor) -> torch.Tensor:
        """H·v for every row v of `block` ([m, n] -> [m, n]); counts m products.

        "func" runs the m tangents of one data batch as one vmapped forward-over-reverse
        pass (chunks of MATMAT_CHUNK); "autograd" (or a model vmap cannot handle) loops."""
        if self.method != "func":
            return torch.stack([self.matvec(v) for v in block])
        out = torch.zeros_like(block)
        try:
            with eval_mode(self.model):
                for xb, yb in self._batches():
                    out += vmap(self._flat_hvp_func(xb, yb), chunk_size=MATMAT_CHUNK)(block)
        except (RuntimeError, NotImplementedError):  # no batching rule for some layer
            return torch.stack([self.matvec(v) for v in block])
        distributed.all_reduce_sum([out])
        self.num_hvps += block.shape[0]
        return out

    def _batch_hvp_autograd(self, xb: torch.Tensor, yb: torch.Tensor, v: Vec) -> Vec:
        loss = self._batch_loss(self.model(xb), yb)
        grads = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True)
        # Parameters the loss does not depend on (or only linearly) have zero curvature.
        live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
        hv = torch.autograd.grad(
            [grads[i] for i in live],
            [self.params[i] for i in live],
            grad_outputs=[v[i] for i in live],
            allow_unused=True,
        )
        out = [torch.zeros_like(p) for p in self.params]
        for i, h in zip(live, hv, strict=True):
            if h is not None:
                out[i] = h
        return out

    def _batch_hvp_func(self, xb: torch.Tensor, yb: torch.Tensor, v: Vec) -> Vec:
        with fwad.dual_level(), warnings.catch_warnings():
            # torch's first forward-AD call loads decompositions via deprecated jit.script.
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated")
            duals = {
                n: fwad.make_dual(p.detach().requires_grad_(True), t)
                for n, p, t in zip(self.names, self.params, v, strict=True)
            }
            # Parameters not in `duals` (frozen ones) and buffers come from the module.
            loss = self._batch_loss(functional_call(self.model, duals, (xb,)), yb)
            grads = torch.autograd.grad(loss, list(duals.values()), allow_unused=True)
            out = []
            for g, p in zip(grads, self.params, strict=True):
                tangent = None if g is None else fwad.unpack_dual(g).tangent
                out.append(torch.zeros_like(p) if tangent is None else tangent)
            return out

    def _flat_hvp_func(self, xb: torch.Tensor, yb: torch.Tensor):
        """flat v -> flat H·v on one batch with `torch.func` only (so it can be vmapped)."""
        primals = {n: p.detach() for n, p in zip(self.names, self.params, strict=True)}

        def loss_fn(params: dict[str, torch.Tensor]) -> torch.Tensor:
            return self._batch_loss(functional_call(self.model, params, (xb,)), yb)

        def flat_hvp(flat: torch.Tensor) -> torch.Tensor:
            tangents = dict(zip(self.names, unflatten(flat, self.params), strict=True))
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated")
                hv = jvp(func_grad(loss_fn), (primals,), (tangents,))[1]
            return flatten([hv[n] for n in self.names])

        return flat_hvp
