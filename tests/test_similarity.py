"""Perturbation similarity at θ ± a·v: exact cases, restoration of θ, statistics, directions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from advland.analysis.landscape.similarity import (
    SimilarityConfig,
    perturbation_cosine,
    perturbation_similarity,
    similarity_direction,
)
from advland.analysis.params import norm, trainable
from advland.attacks.spec import AttackConfig
from advland.errors import UserError
from support import lenet, random_images, tiny_resnet18

BASE = SimilarityConfig(
    a=(0.0, 0.5, 2.0), attack=AttackConfig(eps=0.1, steps=3), repeats=3, batch_size=8, seed=1
)


def splits(n: int = 12, shape=(1, 12, 12)):
    x, y = random_images(2 * n, shape)
    return (x[:n], y[:n]), (x[n:], y[n:])


def unit_random(model, seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(p.shape, generator=g) for p in trainable(model)]


def test_cosine_definition_including_zero_perturbations():
    u = torch.tensor([[1.0, 2.0, -3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    w = torch.tensor([[1.0, 2.0, -3.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    cos = perturbation_cosine(u, w)
    assert cos.tolist() == [1.0, 1.0, 0.0, 0.0]  # identical, both zero, one zero, orthogonal
    assert perturbation_cosine(u[:1], -u[:1]).item() == -1.0
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 3, 4, 4, generator=g), torch.randn(5, 3, 4, 4, generator=g)
    expected = torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1)).double()
    torch.testing.assert_close(perturbation_cosine(a, b), expected, atol=1e-6, rtol=0)
    x = torch.rand(64, 1, 8, 8, generator=g) - 0.5  # identical inputs give exactly 1
    assert (perturbation_cosine(x, x.clone()) == 1.0).all()


def test_a_zero_gives_exactly_one_for_a_deterministic_attack_and_theta_is_restored():
    model, (train, test) = lenet(), splits()
    model.train()  # the tool must use eval mode and then restore this flag
    state = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = replace(BASE, attack=replace(BASE.attack, random_start="none"), repeats=2)
    res = perturbation_similarity(model, unit_random(model), train, test, cfg)
    assert (res.per_repeat["similarity_train"][:, 0] == 1.0).all()
    assert (res.per_repeat["similarity_test"][:, 0] == 1.0).all()
    assert res.std["similarity_train"][0] == 0.0
    for split in ("train", "test"):  # θ+0v = θ−0v: same examples, same robust error
        plus, minus = (res.per_repeat[f"robust_error_{s}_{split}"] for s in ("plus", "minus"))
        np.testing.assert_array_equal(plus[:, 0], minus[:, 0])
    for k, v in model.state_dict().items():  # bit-exact restoration (copy, not subtract)
        assert torch.equal(v, state[k]), k
    assert model.training and all(m.training for m in model.modules())


def test_std_over_repeats_and_outputs(tmp_path):
    model, (train, test) = lenet(), splits()
    res = perturbation_similarity(
        model, None, train, test, replace(BASE, direction="random"), out_dir=tmp_path
    )
    for key, per in res.per_repeat.items():
        assert per.shape == (3, 3)
        np.testing.assert_allclose(res.mean[key], per.mean(0))
        np.testing.assert_allclose(res.std[key], per.std(0, ddof=1))
    # random starts differ between repeats (and sides): similarity varies and stays < 1
    assert res.std["similarity_train"].max() > 0
    assert (res.mean["similarity_train"] < 1).all()
    assert (tmp_path / "similarity.json").exists() and (tmp_path / "similarity_figure.png").exists()


def test_zero_budget_means_identical_zero_perturbations():
    model, (train, test) = lenet(), splits()
    res = perturbation_similarity(
        model,
        unit_random(model),
        train,
        test,
        replace(BASE, attack=replace(BASE.attack, eps=0.0), repeats=1, a=(0.0, 1.0)),
    )
    assert (res.per_repeat["similarity_train"] == 1.0).all()


def test_directions_are_unit_vectors():
    model = lenet()
    v, n = similarity_direction(model, None, replace(BASE, direction="random"))
    assert abs(float(norm(v)) - 1.0) < 1e-5 and n == 1.0
    w = [5.0 * t for t in unit_random(model)]
    v, n = similarity_direction(model, w, BASE)
    assert abs(float(norm(v)) - 1.0) < 1e-5 and n > 5.0
    with pytest.raises(UserError):
        similarity_direction(model, None, BASE)  # eigenvector expected but not given
    with pytest.raises(UserError):
        similarity_direction(model, [torch.zeros_like(t) for t in w], BASE)


def test_batchnorm_statistics_untouched():
    model = tiny_resnet18()
    (train, test) = splits(n=6, shape=(1, 6, 6))
    model.train()(train[0])
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = replace(BASE, a=(0.0, 0.1), repeats=1, attack=replace(BASE.attack, steps=2))
    res = perturbation_similarity(model, unit_random(model), train, test, cfg)
    assert np.isfinite(res.mean["similarity_train"]).all()
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
