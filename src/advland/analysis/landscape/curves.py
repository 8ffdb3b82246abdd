"""Training of a Bezier curve between two trained models under adversarial training
(paper C.2.5, Fig. 15; the curve itself: `advland.analysis.landscape.bezier`).

Training minimises E_{t~U[0,1]} L_ε(B(t)) with one t per batch and PGD run at B(t). The
control points carry no BatchNorm statistics of their own, so:
- the training loss uses BN batch statistics (`train_bn_mode="train"`, as Garipov et al.);
- the training-time attack runs in eval mode with running statistics interpolated
  linearly between the endpoints' (`attack_bn_mode="eval"`, the reference code's eval-mode
  attack), or with batch statistics on a throw-away copy (`"train"`). Nothing the user
  passed is ever modified.
Evaluation along the trained curve (BN statistics re-estimated at every t) is
`advland.analysis.landscape.curve_eval`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from advland._compat import moved_attribute
from advland.analysis.landscape.adversary import adversarial
from advland.analysis.landscape.bezier import BezierCurve, bernstein, load_point
from advland.analysis.landscape.curve_resume import (
    TRAIN,
    CurveCheckpoint,
    Position,
    training_fingerprint,
    training_stage,
)
from advland.analysis.landscape.curve_types import BN_MODES, OPTIMIZERS, CurveConfig
from advland.analysis.runner import Job, StageCache, progress

__all__ = [
    "BN_MODES",
    "OPTIMIZERS",
    "BezierCurve",
    "CurveConfig",
    "bernstein",
    "fit_curve",
    "train_curve",
]

_MOVED = {
    "METRICS": "advland.analysis.landscape.curve_types",
    "CurveResult": "advland.analysis.landscape.curve_types",
    "Split": "advland.analysis.landscape.curve_types",
    "evaluate_curve": "advland.analysis.landscape.curve_eval",
    "print_curve_table": "advland.analysis.landscape.curve_eval",
    "reestimate_at": "advland.analysis.landscape.curve_eval",
    "save_curve": "advland.analysis.landscape.curve_eval",
}


def __getattr__(name: str):
    return moved_attribute(__name__, _MOVED, name)


@dataclass(frozen=True)
class _Trainer:
    """What one training step needs besides its batch."""

    curve: BezierCurve
    attacker: nn.Module  # throw-away copy of the architecture: attacks may touch its BN stats
    opt: torch.optim.Optimizer
    cfg: CurveConfig
    gen: torch.Generator


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
    """`fit_curve`, saving the training to the file `checkpoint` (when given) every
    `cfg.checkpoint_every` batches and at each epoch end, and resuming from it exactly."""
    if checkpoint is None:
        return fit_curve(model_a, model_b, train_loader_or_tensors, cfg)
    path = Path(checkpoint)
    job = Job("curve", path.parent, {TRAIN: training_stage(path.name)})
    return fit_curve(model_a, model_b, train_loader_or_tensors, cfg, cache=job.cache)


def fit_curve(
    model_a: nn.Module,
    model_b: nn.Module,
    train_loader_or_tensors,
    cfg: CurveConfig,
    *,
    cache: StageCache | None = None,
) -> BezierCurve:
    """Fit the control points by minimising E_t L_ε(B(t)); t ~ U[0,1] once per batch.

    The per-epoch mean training loss is kept in `curve.history` (list of dicts). With a
    runner `cache`, the training is checkpointed and resumed (`curve_resume`).
    """
    dev = next(model_a.parameters()).device
    curve = BezierCurve(model_a, model_b, cfg.order).to(dev)
    gen = torch.Generator().manual_seed(cfg.seed)
    params = curve.control_parameters()
    if not params:  # order 1: the straight line, nothing to train
        return curve
    data = train_loader_or_tensors
    trainer = _Trainer(curve, copy.deepcopy(curve.template), _optimizer(params, cfg), cfg, gen)
    ck = None
    if cache is not None:
        ck = CurveCheckpoint(cache, training_fingerprint(cfg, model_a, model_b, data))
    pos = ck.restore(curve, trainer.opt, gen) if ck else Position()
    curve.history = pos.history
    for epoch in progress(range(pos.epoch, cfg.epochs), "bezier curve"):
        batches = _epoch_batches(data, cfg.batch_size, gen, pos)
        for step, (x, y) in islice(enumerate(batches), pos.step, None):
            loss = _train_step(trainer, x.to(dev), y.to(dev))
            pos.total += loss * y.shape[0]
            pos.count += y.shape[0]
            if ck and (step + 1) % cfg.checkpoint_every == 0:
                pos.step = step + 1
                ck.save(curve, trainer.opt, gen, pos)
        curve.history.append({"epoch": epoch + 1, "train_loss": pos.total / max(pos.count, 1)})
        pos = Position(epoch + 1, history=curve.history)
        if ck:
            ck.save(curve, trainer.opt, gen, pos)
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
    assert pos.epoch_rng is not None  # saved with every mid-epoch position
    gen.set_state(pos.epoch_rng)
    batches = _batches(data, batch_size, gen)
    gen.set_state(now)
    return batches


def _train_step(trainer: _Trainer, x: torch.Tensor, y: torch.Tensor) -> float:
    """One batch at a random t: PGD at B(t) (if ε > 0), then a step on the control points."""
    curve, cfg, gen = trainer.curve, trainer.cfg, trainer.gen
    t = float(torch.rand((), generator=gen, dtype=torch.float64))
    if cfg.attack.eps > 0:
        load_point(trainer.attacker, curve, t)
        x = adversarial(
            trainer.attacker,
            x,
            y,
            cfg.attack,
            loss=cfg.attack_loss,
            generator=gen,
            model_mode=cfg.attack_bn_mode,
        )
    curve.template.train(cfg.train_bn_mode == "train")
    loss = F.cross_entropy(curve(x, t), y)
    trainer.opt.zero_grad(set_to_none=True)
    loss.backward()
    trainer.opt.step()
    return loss.item()  # host sync once per batch, for the log
