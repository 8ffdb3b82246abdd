"""Adversarial loss surfaces: centre value, grouped = vmap = loop, filter normalisation, resume."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import advland.analysis.landscape.surface as surface
from advland.analysis.landscape.surface import (
    SurfaceConfig,
    attack_seed,
    loss_surface,
    surface_directions,
)
from advland.analysis.params import trainable
from advland.attacks import Threat, pgd
from advland.attacks.spec import AttackConfig
from advland.errors import UserError
from support import lenet, random_images, tiny_resnet18

BASE = SurfaceConfig(
    a1=(-1.0, 1.0),
    n1=3,
    a2=(-0.5, 0.5),
    n2=3,
    eps=(0.0, 0.1),
    attack=AttackConfig(eps=0.1, steps=3),
    batch_size=6,
    points_per_batch=4,
    seed=5,
)


def reference_loss(model, x, y, cfg: SurfaceConfig, e: int) -> float:
    """The adversarial loss of the unmodified model with advland.attacks.pgd."""
    eps = cfg.eps[e]
    if eps > 0:
        gen = torch.Generator().manual_seed(attack_seed(cfg, e, 0))
        a = cfg.attack_at(eps)
        x = pgd(
            model,
            x,
            y,
            Threat(eps=eps),
            steps=a.steps,
            step_size=a.step(),
            restarts=a.restarts,
            generator=gen,
        )
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


@pytest.mark.parametrize(
    "mode,dtype,tol",
    [
        ("loop", torch.float32, 1e-6),
        ("vmap", torch.float64, 1e-9),
        ("grouped", torch.float64, 1e-9),
        ("grouped", torch.float32, 1e-5),
    ],
)
def test_centre_point_is_the_models_adversarial_loss(mode, dtype, tol):
    model, (x, y) = lenet(dtype), random_images(10, dtype=dtype)
    cfg = replace(BASE, mode=mode, batch_size=64, attack=replace(BASE.attack, restarts=2))
    res = loss_surface(model, (x, y), cfg)
    assert res.mode_used == mode and res.done.all()
    for e in range(len(cfg.eps)):
        assert abs(res.loss[e, 1, 1] - reference_loss(model, x, y, cfg, e)) < tol
    assert res.loss[1].min() >= res.loss[0].min()  # PGD never lowers the loss here


@pytest.mark.parametrize("batched", ["vmap", "grouped"])
@pytest.mark.parametrize(
    "arch,changes",
    [
        ("lenet", {}),  # the loop and grouped paths in channels_last (their default)
        ("lenet", {"channels_last": False}),  # ... and in NCHW
        ("lenet", {"attack": AttackConfig(norm="l2", eps=0.5, steps=3, restarts=2), "eps": (0.5,)}),
        ("lenet", {"reuse_attack_block": 2, "attack": AttackConfig(steps=3, random_start="eps")}),
        ("resnet18", {"eps": (0.05,), "attack": AttackConfig(steps=2)}),  # BatchNorm, eval mode
    ],
)
def test_batched_paths_equal_one_point_at_a_time(batched, arch, changes):
    if arch == "lenet":
        model, (x, y) = lenet(torch.float64), random_images(10, dtype=torch.float64)
    else:
        model = tiny_resnet18().double()
        model.train()(torch.rand(8, 1, 6, 6, dtype=torch.float64))  # non-trivial BN stats
        model.eval()
        (x, y) = random_images(6, (1, 6, 6), torch.float64)
    cfg = replace(BASE, **changes)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    many = loss_surface(model, (x, y), replace(cfg, mode=batched))
    single = loss_surface(model, (x, y), replace(cfg, mode="loop"))
    assert many.mode_used == batched
    np.testing.assert_allclose(many.loss, single.loss, atol=1e-5, rtol=0)
    np.testing.assert_allclose(many.error, single.error, atol=1e-9)
    for k, v in model.state_dict().items():  # model (incl. BN running stats) untouched
        assert torch.equal(v, state[k]), k


@pytest.mark.parametrize("ignore_1d", [True, False])
def test_filter_normalised_directions(ignore_1d):
    model = tiny_resnet18()
    cfg = replace(BASE, directions="filter-random", ignore_1d=ignore_1d)
    dirs, _ = surface_directions(model, cfg, None)
    assert len(dirs) == 2
    for d in dirs:
        for p, v in zip(trainable(model), d, strict=True):
            if p.dim() <= 1:
                if ignore_1d:
                    assert torch.count_nonzero(v) == 0
                else:
                    torch.testing.assert_close(v.norm(), p.detach().norm(), rtol=1e-5, atol=1e-6)
                continue
            per_filter = v.reshape(v.shape[0], -1).norm(dim=1)
            expected = p.detach().reshape(p.shape[0], -1).norm(dim=1)
            torch.testing.assert_close(per_filter, expected, rtol=1e-5, atol=1e-6)
    assert not torch.equal(dirs[0][0], dirs[1][0])  # two different draws


def test_eigen_directions_normalised_and_1d_surface(tmp_path):
    model, (x, y) = lenet(), random_images(10)
    g = torch.Generator().manual_seed(1)
    v = [3.0 * torch.randn(p.shape, generator=g) for p in trainable(model)]
    cfg = replace(BASE, directions="eigen", a2=None, n1=5, eps=(0.05,))
    res = loss_surface(model, (x, y), cfg, directions=[v], out_dir=tmp_path)
    assert res.loss.shape == (1, 5, 1)
    unit = res.directions[0]
    assert abs(float(sum((t * t).sum() for t in unit)) - 1.0) < 1e-5
    assert res.direction_norms[0] > 1.0
    assert (tmp_path / "surface_figure.pdf").exists() and (tmp_path / "surface.json").exists()
    with np.load(tmp_path / "surface.npz") as z:
        np.testing.assert_allclose(z["v1"], torch.cat([t.reshape(-1) for t in unit]).numpy())
    with pytest.raises(UserError):
        loss_surface(model, (x, y), cfg, directions=None)


def test_resume_skips_finished_points(tmp_path, monkeypatch):
    model, (x, y) = lenet(), random_images(10)
    cfg = replace(BASE, n1=3, n2=2, eps=(0.1,), points_per_batch=2)
    full = loss_surface(model, (x, y), cfg)  # uninterrupted reference

    real_write, calls = surface._save_grid, []

    def crash_after_first(*args):
        real_write(*args)
        calls.append(1)
        raise KeyboardInterrupt("injected after the first batch")

    monkeypatch.setattr(surface, "_save_grid", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        loss_surface(model, (x, y), cfg, out_dir=tmp_path)
    monkeypatch.setattr(surface, "_save_grid", real_write)
    with np.load(tmp_path / "surface.npz") as z:
        assert z["done"].sum() == 2 and len(calls) == 1

    resumed = loss_surface(model, (x, y), replace(cfg, points_per_batch=3), out_dir=tmp_path)
    assert resumed.points_evaluated == 6 - 2
    assert resumed.done.all()
    np.testing.assert_array_equal(resumed.loss, full.loss)
    np.testing.assert_array_equal(resumed.error, full.error)
    again = loss_surface(model, (x, y), cfg, out_dir=tmp_path)  # all done: nothing to do
    assert again.points_evaluated == 0
    steps4 = replace(cfg, attack=replace(cfg.attack, steps=4))
    with pytest.raises(UserError):  # another config must not silently reuse the grid
        loss_surface(model, (x, y), steps4, out_dir=tmp_path)
    fresh = loss_surface(model, (x, y), steps4, out_dir=tmp_path, resume=False)
    assert fresh.points_evaluated == 6


class NotVmappable(nn.Module):
    """Data-dependent Python control flow (impossible under vmap) on a bare parameter (which
    the grouped path cannot split into points): only the loop path can run it."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(0.1 * torch.randn(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.flatten(1) @ self.w
        return z if z.sum().item() > -1e9 else -z


class MixesChannels(nn.Module):
    """Concatenates a mean over channels: fine per point, wrong on a grouped activation."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.fc = nn.Linear(3 * 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return self.fc(torch.cat([h, h.mean(1, keepdim=True)], 1).flatten(1))


@pytest.mark.parametrize("model_cls,used", [(NotVmappable, "loop"), (MixesChannels, "vmap")])
def test_auto_mode_falls_back(model_cls, used):
    torch.manual_seed(0)
    model = model_cls()
    x, y = torch.rand(6, 1, 4, 4), torch.randint(0, 3, (6,))
    cfg = replace(BASE, eps=(0.1,))
    res = loss_surface(model, (x, y), cfg)
    assert res.mode_used == used and res.done.all()
    single = loss_surface(model, (x, y), replace(cfg, mode="loop"))
    np.testing.assert_allclose(res.loss, single.loss, atol=1e-5, rtol=0)
    # one clear line for an explicit mode, no silent fallback
    with pytest.raises(UserError, match=r"outside its layers|mixes channels"):
        loss_surface(model, (x, y), replace(cfg, mode="grouped"))
    if used == "loop":
        with pytest.raises(RuntimeError):
            loss_surface(model, (x, y), replace(cfg, mode="vmap"))
