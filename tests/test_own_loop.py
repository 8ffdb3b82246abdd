"""Building blocks for the user's own loop (`advland.PAS`, `advland.adversarial_step`,
`advland.as_tensors`) and examples/own_loop_pas.py run end to end."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import advland
from advland.errors import UserError
from fixtures import Digits, TinyCNN
from support import ROOT, cli_env


def test_pas_schedule_matches_eq5_with_resets():
    pas = advland.PAS.build(
        eps=0.3,
        epochs=4,
        periods=[0, 2, 4],
        lr=0.1,
        eps_max=0.45,
        lr_schedule="multistep",
        milestones=[2],
        gamma=0.1,
    )
    # period [0, 2) replays the 4-epoch cosine at doubled speed: d/D = 2t/4
    cosine = lambda t: min(0.5 * (1 - math.cos(math.pi * min(2 * t / 4, 1))) * 0.45, 0.3)  # noqa: E731
    assert [pas.eps(t) for t in (0, 1, 2, 3)] == pytest.approx(
        [cosine(0), cosine(1), cosine(0), cosine(1)]
    )
    assert pas.eps(1) == pytest.approx(0.225)
    # the lr milestone at epoch 2 of the whole run falls at epoch 1 of each 2-epoch period
    assert [pas.lr(t) for t in (0, 1, 2, 3)] == pytest.approx([0.1, 0.01, 0.1, 0.01])
    assert [pas.ends_period(e) for e in (1, 2, 3, 4)] == [False, True, False, True]
    assert [pas.period(t) for t in (0, 1.5, 2, 3.9)] == [0, 0, 1, 1]


def test_pas_rules_are_the_run_config_rules():
    with pytest.raises(UserError, match="periods"):
        advland.PAS.build(eps=0.3, epochs=4, periods=[0, 3], lr=0.1)


def test_adversarial_step_trains_on_pgd_examples():
    torch.manual_seed(0)
    model = TinyCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = advland.as_tensors(Digits("train", 32, shift=False))
    attack = advland.AttackConfig(eps=0.1, steps=3, step_size=0.05)
    before = [p.detach().clone() for p in model.parameters()]
    loss, logits = advland.adversarial_step(model, opt, x, y, 0.1, attack)
    assert logits.shape == (32, 10) and torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_as_tensors_reads_datasets_and_loaders_alike():
    ds = Digits("test", 40, shift=False)
    x, y = advland.as_tensors(ds)
    xl, yl = advland.as_tensors(DataLoader(ds, batch_size=7, shuffle=False), limit=30)
    assert x.dtype == torch.float32 and x.shape == (40, 1, 28, 28) and 0 <= x.min() <= x.max() <= 1
    assert torch.equal(xl, x[:30]) and torch.equal(yl, y[:30])
    with pytest.raises(UserError, match=r"outside \[0,1\]"):
        advland.as_tensors(TensorDataset(torch.full((4, 1, 2, 2), 3.0), torch.zeros(4).long()))


def test_example_own_loop_pas_runs():
    proc = subprocess.run(
        # the example as shipped, on fewer test points: AutoAttack's cost is per point
        [sys.executable, "examples/own_loop_pas.py", "--test-n", "30"],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert (
        out.count("epoch ") == 4 and "final: clean error" in out and "ensemble: clean error" in out
    )
    assert "APGD-T" in out and "Square" in out  # the autoattack suite ran
    assert "top Hessian eigenvalue" in out
