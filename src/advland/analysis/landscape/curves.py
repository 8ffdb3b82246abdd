"""Bezier-curve mode connectivity under adversarial training (paper C.2.5, Fig. 15).

B(t) = Σ_{i=0..n} C(n,i) t^i (1−t)^{n−i} θ_i (paper eq. 30; Garipov et al. 2018): θ_0 = θ_a
and θ_n = θ_b are two trained models, fixed; θ_1..θ_{n−1} are trainable control points,
initialised evenly on the straight line (so the initial curve IS the line). Any nn.Module
works unchanged: B(t) is evaluated with `torch.func.functional_call(model, B(t), x)`.

Training minimises E_{t~U[0,1]} L_ε(B(t)) with one t per batch and PGD run at B(t). The
control points carry no BatchNorm statistics of their own, so:
- the training loss uses BN batch statistics (`train_bn_mode="train"`, as Garipov et al.);
- the training-time attack runs in eval mode with running statistics interpolated
  linearly between the endpoints' (`attack_bn_mode="eval"`, the reference code's eval-mode
  attack), or with batch statistics on a throw-away copy (`"train"`). Nothing the user
  passed is ever modified.
At evaluation every point of the t-grid gets its BN statistics re-estimated on the same
kind of inputs the curve was trained on (paper: "re-estimate ... based on the training
set"): clean inputs for ε = 0; for ε > 0 a clean re-estimate first, then PGD in eval mode
at B(t), then a re-estimate on those adversarial inputs. Metrics are then measured in eval
mode (`advland.analysis.landscape.curve_eval`, re-exported here).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from tqdm.auto import tqdm

from advland.analysis.landscape.curve_eval import (
    METRICS,
    CurveResult,
    Split,
    evaluate_curve,
    print_curve_table,
    reestimate_at,
    save_curve,
)
from advland.analysis.landscape.curve_resume import CurveCheckpoint, Position, training_fingerprint
from advland.attacks import Threat, pgd
from advland.errors import UserError

OPTIMIZERS = ("adam", "sgd")
BN_MODES = ("train", "eval")

__all__ = [  # evaluation along the curve lives in curve_eval and is re-exported here
    "BN_MODES",
    "METRICS",
    "OPTIMIZERS",
    "BezierCurve",
    "CurveConfig",
    "CurveResult",
    "Split",
    "bernstein",
    "evaluate_curve",
    "print_curve_table",
    "reestimate_at",
    "save_curve",
    "train_curve",
]


@dataclass(frozen=True)
class CurveConfig:
    order: int = 2  # paper: 2 for MNIST pairs, 4 for CIFAR-10 pairs
    epochs: int = 10
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    batch_size: int = 128
    eps: float = 0.0
    norm: str = "linf"
    steps: int = 10
    step_size: float | None = None  # None → eps/4
    random_start: str = "step"
    restarts: int = 1
    attack_loss: str = "ce"
    train_bn_mode: str = "train"  # BN mode of the training loss at B(t)
    attack_bn_mode: str = "eval"  # BN mode of the training-time attack (see module doc)
    num_t: int = 21  # evaluation grid on [0, 1]
    seed: int = 0
    bn_examples: int | None = None  # training inputs for BN re-estimation (None: all)
    bn_batch_size: int = 256
    eval_batch_size: int = 256
    checkpoint_every: int = 50  # batches between training checkpoints (with a checkpoint path)

    def __post_init__(self) -> None:
        if self.order < 1:
            raise UserError(f"order must be >= 1, got {self.order}; the paper uses 2 or 4")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer must be one of {OPTIMIZERS}, got '{self.optimizer}'")
        for name in ("train_bn_mode", "attack_bn_mode"):
            if getattr(self, name) not in BN_MODES:
                raise UserError(f"{name} must be one of {BN_MODES}, got '{getattr(self, name)}'")
        if self.eps < 0:
            raise UserError(f"eps must be >= 0, got {self.eps}; pass a non-negative budget")
        for name in ("batch_size", "num_t", "bn_batch_size", "eval_batch_size", "steps",
                     "checkpoint_every"):  # fmt: skip
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def alpha(self) -> float:
        return self.step_size if self.step_size is not None else self.eps / 4

    def attack(self, model: nn.Module, x, y, generator, model_mode: str = "eval"):
        """PGD with this config's settings (the clean input when ε = 0)."""
        if self.eps == 0:
            return x
        return pgd(
            model, x, y, Threat(norm=self.norm, eps=self.eps), steps=self.steps,
            step_size=self.alpha, random_start=self.random_start, restarts=self.restarts,
            loss=self.attack_loss, generator=generator, model_mode=model_mode,
        )  # fmt: skip


def bernstein(t: float, order: int) -> torch.Tensor:
    """Weights C(n,i) t^i (1−t)^{n−i}, i = 0..n, in float64 (exactly 1,0,…,0 at t = 0)."""
    return torch.tensor(
        [math.comb(order, i) * t**i * (1 - t) ** (order - i) for i in range(order + 1)],
        dtype=torch.float64,
    )


class BezierCurve(nn.Module):
    """B(t) between two models of one architecture; only the control points are trainable."""

    def __init__(self, model_a: nn.Module, model_b: nn.Module, order: int) -> None:
        super().__init__()
        pa, pb = dict(model_a.named_parameters()), dict(model_b.named_parameters())
        ba, bb = dict(model_a.named_buffers()), dict(model_b.named_buffers())
        for what, a, b in (("parameters", pa, pb), ("buffers", ba, bb)):
            shapes_a = {k: v.shape for k, v in a.items()}
            if shapes_a != {k: v.shape for k, v in b.items()}:
                raise UserError(f"the two models' {what} differ; pass two of one architecture")
        self.order = order
        self.names = [k for k, p in pa.items() if p.requires_grad]
        self.buf_names = list(ba)
        self.template = copy.deepcopy(model_a).requires_grad_(False)  # architecture only
        self.template.eval()
        self._register("start", [pa[k] for k in self.names])
        self._register("end", [pb[k] for k in self.names])
        # BN statistics: interpolated linearly between the endpoints (re-estimated at eval)
        self._register("buf_a", [ba[k] for k in self.buf_names])
        self._register("buf_b", [bb[k] for k in self.buf_names])
        self.controls = nn.ModuleList()
        for i in range(1, order):  # evenly on the straight line: the initial curve is the line
            s = i / order
            line = [(1 - s) * pa[k].detach() + s * pb[k].detach() for k in self.names]
            self.controls.append(nn.ParameterList([nn.Parameter(t.clone()) for t in line]))
        self.history: list[dict] = []

    def _register(self, prefix: str, tensors: list[torch.Tensor]) -> None:
        # buffers, not parameters: they follow .to() and state_dict but are never trained
        for k, t in enumerate(tensors):
            self.register_buffer(f"{prefix}_{k}", t.detach().clone())

    def _stored(self, prefix: str, n: int) -> list[torch.Tensor]:
        return [getattr(self, f"{prefix}_{k}") for k in range(n)]

    def control_parameters(self) -> list[nn.Parameter]:
        return list(self.controls.parameters())

    def points(self) -> list[list[torch.Tensor]]:
        n = len(self.names)
        ends = self._stored("start", n), self._stored("end", n)
        return [ends[0], *(list(c) for c in self.controls), ends[1]]

    def params_at(self, t: float) -> dict[str, torch.Tensor]:
        """B(t) as a name → tensor dict (differentiable w.r.t. the control points)."""
        w = bernstein(t, self.order)
        out = {}
        for k, name in enumerate(self.names):
            acc = None
            for i, pts in enumerate(self.points()):
                term = w[i].to(pts[k].dtype) * pts[k]
                acc = term if acc is None else acc + term
            out[name] = acc
        return out

    def buffers_at(self, t: float) -> dict[str, torch.Tensor]:
        """Endpoint buffers mixed (1−t)/t; integer buffers (BN batch counters) from model_a."""
        out = {}
        n = len(self.buf_names)
        pairs = zip(self._stored("buf_a", n), self._stored("buf_b", n), strict=True)
        for name, (a, b) in zip(self.buf_names, pairs, strict=True):
            out[name] = (1 - t) * a + t * b if a.is_floating_point() else a.clone()
        return out

    def forward(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """f(x; B(t)) with the template's current train/eval mode; buffers are copies."""
        state = {**self.params_at(t), **{k: v.clone() for k, v in self.buffers_at(t).items()}}
        return functional_call(self.template, state, (x,))

    @torch.no_grad()
    def model_at(self, t: float) -> nn.Module:
        """A standalone copy of the architecture with B(t) (and interpolated buffers) loaded."""
        model = copy.deepcopy(self.template).eval()
        for name, p in model.named_parameters():
            p.requires_grad_(name in self.names)
        _load(model, self, t)
        return model


def _batches(data, batch_size: int, generator: torch.Generator) -> Iterable:
    """(x, y) tensors → shuffled minibatches; anything else is iterated as given."""
    if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
        order = torch.randperm(x.shape[0], generator=generator)
        return [(x[i], y[i]) for i in order.split(batch_size)]
    return data


def train_curve(
    model_a: nn.Module,
    model_b: nn.Module,
    train_loader_or_tensors,
    cfg: CurveConfig,
    checkpoint: str | Path | None = None,
) -> BezierCurve:
    """Fit the control points by minimising E_t L_ε(B(t)); t ~ U[0,1] once per batch.

    The per-epoch mean training loss is kept in `curve.history` (list of dicts). With
    `checkpoint` (a file path), training is saved there every `cfg.checkpoint_every`
    batches and at each epoch end, and resumes from it exactly (`curve_resume`).
    """
    dev = next(model_a.parameters()).device
    curve = BezierCurve(model_a, model_b, cfg.order).to(dev)
    gen = torch.Generator().manual_seed(cfg.seed)
    params = curve.control_parameters()
    if not params:  # order 1: the straight line, nothing to train
        return curve
    opt = _optimizer(params, cfg)
    data = train_loader_or_tensors
    ck = None
    if checkpoint is not None:
        fp = training_fingerprint(cfg, model_a, model_b, data)
        ck = CurveCheckpoint(Path(checkpoint), fp)
    pos = ck.restore(curve, opt, gen) if ck else Position()
    curve.history = pos.history
    attacker = copy.deepcopy(curve.template)  # throw-away: attacks may touch its BN stats
    for epoch in tqdm(range(pos.epoch, cfg.epochs), desc="bezier curve", leave=False):
        batches = _epoch_batches(data, cfg.batch_size, gen, pos)
        for step, (x, y) in islice(enumerate(batches), pos.step, None):
            loss = _train_step(curve, attacker, opt, x.to(dev), y.to(dev), cfg, gen)
            pos.total += loss * y.shape[0]
            pos.count += y.shape[0]
            if ck and (step + 1) % cfg.checkpoint_every == 0:
                pos.step = step + 1
                ck.save(curve, opt, gen, pos)
        curve.history.append({"epoch": epoch + 1, "train_loss": pos.total / max(pos.count, 1)})
        pos = Position(epoch + 1, history=curve.history)
        if ck:
            ck.save(curve, opt, gen, pos)
    curve.template.eval()
    return curve


def _optimizer(params: list[nn.Parameter], cfg: CurveConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _epoch_batches(data, batch_size: int, gen: torch.Generator, pos: Position) -> Iterable:
    """This epoch's batches. Mid-epoch (a resume) the shuffle is replayed from the state the
    generator had at the start of the epoch, then the generator continues where it was."""
    if pos.step == 0:
        pos.epoch_rng = gen.get_state()
        return _batches(data, batch_size, gen)
    now = gen.get_state()
    gen.set_state(pos.epoch_rng)
    batches = _batches(data, batch_size, gen)
    gen.set_state(now)
    return batches


def _train_step(
    curve: BezierCurve, attacker: nn.Module, opt, x: torch.Tensor, y: torch.Tensor,
    cfg: CurveConfig, gen: torch.Generator,
) -> float:  # fmt: skip
    """One batch at a random t: PGD at B(t) (if ε > 0), then a step on the control points."""
    t = float(torch.rand((), generator=gen, dtype=torch.float64))
    if cfg.eps > 0:
        _load(attacker, curve, t)
        x = cfg.attack(attacker, x, y, gen, model_mode=cfg.attack_bn_mode)
    curve.template.train(cfg.train_bn_mode == "train")
    loss = F.cross_entropy(curve(x, t), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()  # host sync once per batch, for the log


@torch.no_grad()
def _load(model: nn.Module, curve: BezierCurve, t: float) -> None:
    state = {**curve.params_at(t), **curve.buffers_at(t)}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if name in state:
            tensor.copy_(state[name])
