"""End-of-run evaluation of a model given as an `nn.Module` (`advland.fit`): the final
model, each PAS snapshot and their ensemble, with the same suites, sanity checks and
diagnostics as a run built from the config (`evaluation.report.evaluate_suite`). Members
are copies of the user's model with the snapshot weights loaded."""

from __future__ import annotations

from typing import Any

import torch

from advland.evaluation.report import evaluate_pas, evaluate_suite
from advland.runs.checkpoint import load_weights
from advland.training.state import Session


def eval_tensors(s: Session):
    """The test split, else the validation split, limited by `eval.limit`; None if empty."""
    split = s.splits.test if len(s.splits.test) else s.splits.val
    if not len(split):
        return None
    x, y = split.x, split.y
    if s.cfg.eval.limit:
        x, y = x[: s.cfg.eval.limit], y[: s.cfg.eval.limit]
    if x.dtype != torch.uint8:
        # the evaluation suites read images as uint8 pixels; data off the 1/255 grid is
        # evaluated at its nearest 8-bit values (at most 1/510 away), and said so
        s.log(
            "note: evaluation data is not on the 1/255 grid; evaluated at its nearest 8-bit values"
        )
        x = (x * 255).round().to(torch.uint8)
    return x, y


def own_model_evaluation(s: Session, suite: str) -> dict | None:
    data = eval_tensors(s)
    if data is None or s.make_model is None:
        return None
    x, y = data
    kw: dict[str, Any] = dict(device=s.device, log=s.log)
    result: dict[str, Any] = {"final": evaluate_suite(s.cfg, s.model, x, y, suite, **kw)}
    if s.state.snapshots:
        members = []
        for name in s.state.snapshots:
            m = s.make_model().to(s.device)
            load_weights(m, s.checkpoints / name)
            members.append(m.eval())
        result |= evaluate_pas(
            s.cfg,
            s.model,
            result["final"],
            members,
            x=x,
            y=y,
            suite=suite,
            device=s.device,
            log=s.log,
        )
    return result
