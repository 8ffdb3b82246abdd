"""End-to-end Hessian spectrum tool: files, normalisation, provenance, plotting."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from torch import nn

from advland.analysis.hessian.hvp import HessianOperator
from advland.analysis.hessian.spectrum import (
    SpectrumConfig,
    hessian_spectrum,
    make_attack,
    select_subset,
    top_eigenvector,
)
from advland.analysis.params import dot, norm, num_params, trainable
from advland.attacks.spec import AttackConfig
from advland.errors import UserError
from advland.reporting.plot_spectrum import plot_spectrum
from support import random_images


def bn_net(seed: int) -> nn.Module:
    """A tiny conv net with BatchNorm on 1×8×8 inputs (≈700 params); seeded, no global RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64, 10),
        )


@pytest.fixture(scope="module")
def images():
    return random_images(50, (1, 8, 8))


# "autograd": less per-call overhead than torch.func on a net this small ("func" is the
# default and runs in test_clean_power_float64_without_normaliser).
CFG = SpectrumConfig(
    k=3,
    subset_size=32,
    subset_seed=1,
    attack=AttackConfig(eps=0.1, steps=3, step_size=2.5 * 0.1 / 3),
    batch_size=12,
    num_random_models=2,
    hvp_method="autograd",
)


@pytest.fixture(scope="module")
def run(images, tmp_path_factory):
    x, y = images
    model = bn_net(100)
    model.train()
    model(x)  # trained-like running statistics
    model.eval()
    stats = [b.clone() for b in model.buffers()]
    out = tmp_path_factory.mktemp("spectrum")
    res = hessian_spectrum(model, x, y, CFG, model_factory=bn_net, out_dir=out, verbose=False)
    return model, stats, res, out


def test_writes_files_and_provenance(run):
    model, _, _, out = run
    for name in ("spectrum.json", "spectrum.npz", "spectrum_plot.png", "spectrum_plot.pdf"):
        assert (out / name).stat().st_size > 0
    rec = json.loads((out / "spectrum.json").read_text())
    assert rec["subset"]["indices"] == select_subset(50, 32, 1).tolist()
    assert rec["attack"]["eps"] == 0.1 and rec["attack"]["steps"] == 3
    assert rec["attack"]["step_size"] == pytest.approx(2.5 * 0.1 / 3)
    assert rec["bn_mode"] == "eval" and rec["seeds"]["random_models"] == [0, 1]
    assert rec["solver"]["method"] == "lanczos" and len(rec["solver"]["residuals"]) == 3
    assert rec["solver"]["num_hvps"] > 0 and rec["model"]["num_params"] == num_params(model)
    npz = np.load(out / "spectrum.npz")
    assert npz["eigenvectors"].shape == (3, num_params(model))
    assert np.allclose(npz["eigenvalues"], rec["eigenvalues"])
    plotted = json.loads((out / "spectrum_plot.json").read_text())
    assert plotted["eps=0.1"]["eigenvalues"] == pytest.approx(rec["eigenvalues"])


def test_normalisation_is_mean_random_loss(run, images):
    _, _, res, out = run
    rec = json.loads((out / "spectrum.json").read_text())
    assert res.normalizer == pytest.approx(np.mean(res.random_losses))
    assert rec["normalization"]["normalizer"] == pytest.approx(res.normalizer)
    assert torch.allclose(res.normalized_eigenvalues, res.eigenvalues / res.normalizer)
    assert rec["normalized_eigenvalues"] == pytest.approx(
        [v / res.normalizer for v in rec["eigenvalues"]]
    )
    # Recompute random model 1's loss by hand: BN re-estimated on clean inputs, same attack.
    x, y = images
    idx = select_subset(50, 32, 1)
    rand = bn_net(1)
    rand.train()
    with torch.no_grad():
        for m in rand.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None
        for xb in x[idx].split(12):
            rand(xb)
    op = HessianOperator.at_adversarial(rand, x[idx], y[idx], make_attack(CFG), batch_size=12)
    assert op.loss() == pytest.approx(res.random_losses[1], rel=1e-5)


def test_eigenpairs_and_model_untouched(run, images):
    model, stats, res, _ = run
    assert not model.training and all(not m.training for m in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(stats, model.buffers(), strict=True))
    assert torch.all(res.eigenvalues[:-1] >= res.eigenvalues[1:])
    assert res.eigen.relative_residuals().max() < 1e-3
    assert res.adversarial_loss > res.clean_loss  # the attack raised the loss
    v = top_eigenvector(model, *images, CFG)
    assert [t.shape for t in v] == [p.shape for p in trainable(model)]
    assert float(norm(v)) == pytest.approx(1.0)
    # Same top eigenvector as the k=3 run, up to the solvers' tolerance (and sign-fixed).
    assert float(dot(v, res.eigenvector(0, model))) > 0.99


def test_clean_power_float64_without_normaliser(images, tmp_path, capsys):
    x, y = images
    model = bn_net(7).double()
    clean = AttackConfig(eps=0.0)
    cfg = SpectrumConfig(k=2, subset_size=20, attack=clean, solver="power", max_iter=30, tol=1e-4)
    res = hessian_spectrum(model, x, y, cfg, out_dir=tmp_path)
    assert res.adversarial_loss == pytest.approx(res.clean_loss)
    assert res.normalizer is None and res.normalized_eigenvalues is None
    assert res.eigen.eigenvectors.dtype == torch.float64 and res.eigen.method == "power"
    assert "eigenvalue" in capsys.readouterr().out
    rec = json.loads((tmp_path / "spectrum.json").read_text())
    assert rec["normalized_eigenvalues"] is None and rec["attack"]["step_size"] is None


def test_bad_inputs_are_user_errors(images, tmp_path, monkeypatch):
    x, y = images
    with pytest.raises(UserError):
        SpectrumConfig(solver="arnoldi")
    with pytest.raises(UserError):
        SpectrumConfig(attack=AttackConfig(eps=-0.1))
    with pytest.raises(UserError):
        hessian_spectrum(bn_net(0), x, y, SpectrumConfig(subset_size=51), verbose=False)
    with pytest.raises(UserError):
        hessian_spectrum(bn_net(0), x * 3, y, SpectrumConfig(subset_size=5), verbose=False)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # matplotlib "missing"
    with pytest.raises(UserError, match=r"advland\[plot\]"):
        plot_spectrum({"a": {"eigenvalues": [2.0, 1.0]}}, tmp_path / "fig.png")


def test_flat_attack_keywords_still_work_with_a_warning():
    with pytest.warns(DeprecationWarning, match="eps, steps"):
        old = SpectrumConfig(k=3, eps=0.1, steps=3)
    # without a step size, the flat form keeps its former step 2.5·ε/steps
    assert old.attack == AttackConfig(eps=0.1, steps=3, step_size=2.5 * 0.1 / 3)
    with pytest.warns(DeprecationWarning):
        ratio = SpectrumConfig(eps=0.2, step_ratio=0.5, attack=AttackConfig(steps=4))
    assert ratio.attack.step() == 0.1 and ratio.attack.steps == 4
    with pytest.raises(UserError, match=r"got -1\.0"), pytest.warns(DeprecationWarning):
        SpectrumConfig(eps=-1.0)
    with pytest.raises(UserError, match="k must be >= 1, got 0"):
        SpectrumConfig(k=0)
    assert SpectrumConfig().record()["step_size"] is None  # clean by default
