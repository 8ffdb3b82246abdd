"""Gradient-masking diagnostics: masked models are flagged, an honest one is not.

One honest LeNet is adversarially trained (ε=0.1) through the API; its evaluation must
carry no warning. Wrapping the same network in three classic masking defences must raise
the matching warning (docs/diagnostics.md): a rounding layer (zero gradient), a
saturated softmax (gradient underflows to zero), and input noise at inference
(non-deterministic).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import advland
from advland.data import load_splits
from advland.evaluation.report import evaluate_suite
from advland.runs.checkpoint import load_weights
from advland.runs.model import build_run_model
from support import TINY

HONEST = [
    *TINY,
    "device=cpu",
    "model.width=2",
    "train.epochs=4",
    "attack.eps=0.1",
    "attack.step_size=0.04",
]


class Rounded(nn.Module):
    """x → round(x·k)/k before the net: piecewise constant, so the input gradient is 0."""

    def __init__(self, net: nn.Module, k: int = 4):
        super().__init__()
        self.net, self.k = net, k

    def forward(self, x):
        return self.net(torch.round(x * self.k) / self.k)


class Saturated(nn.Module):
    """Log-probabilities at temperature 1e-4: the softmax saturates, CE gradients vanish."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.log_softmax(1e4 * self.net(x), dim=1)


class Noisy(nn.Module):
    """Gaussian input noise at inference from the global RNG: a randomised 'defence'."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x + 0.2 * torch.randn_like(x))


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    run = tmp_path_factory.mktemp("masking") / "honest"
    cfg = advland.build_config("configs/quickstart.yaml", HONEST)
    summary = advland.train(cfg, run, log=lambda s: None)
    splits = load_splits(cfg.data)
    model = build_run_model(cfg, splits, torch.device("cpu"))
    load_weights(model, run / "checkpoints" / "latest.pt")
    x, y = splits.test.x[: cfg.data.test_limit], splits.test.y[: cfg.data.test_limit]
    return cfg, run, summary, model.eval(), x, y


def test_honest_model_raises_no_warning(honest):
    cfg, run, summary, *_ = honest
    assert summary["warnings"] == [], summary["warnings"]
    final = json.loads((run / "summary.json").read_text())
    assert final["warnings"] == []
    evaluation = json.loads((run / f"eval-{cfg.eval.suite}.json").read_text())["final"]
    assert evaluation["warnings"] == [] and evaluation["diagnostics"]["repeat_identical"]


@pytest.mark.parametrize(
    "wrap, expected",
    [(Rounded, "zero_gradients"), (Saturated, "zero_gradients"), (Noisy, "nondeterministic")],
    ids=["rounding", "saturated-softmax", "input-noise"],
)
def test_masked_model_is_flagged(honest, wrap, expected):
    cfg, _, _, model, x, y = honest
    out = evaluate_suite(
        cfg, wrap(model).eval(), x, y, "quick", device=torch.device("cpu"), log=print
    )
    names = [w["name"] for w in out["warnings"]]
    assert expected in names, (names, out["diagnostics"])
    for w in out["warnings"]:
        assert w["doc"].startswith("docs/diagnostics.md#") and w["detail"]
