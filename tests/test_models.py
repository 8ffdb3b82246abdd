"""Models of paper Table 2: shapes, exact parameter counts, BN modes, registry errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advland.errors import UserError
from advland.models import MODELS, build_model, default_width, list_models

# (in_channels, image_size) each model is meant for; every model must work on its own.
NATIVE = {"lenet": (1, 28), "vgg": (3, 32), "resnet18": (3, 32)}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def lenet_count(w: int, c: int, k: int, side: int) -> int:
    conv = c * 2 * w * 25 + 2 * w + 2 * w * 4 * w * 25 + 4 * w
    return conv + side * side * 4 * w * 64 * w + 64 * w + 64 * w * k + k


def vgg_count(w: int, c: int, k: int) -> int:
    total, cin = 0, c
    for item in (4, 4, 8, 8, 16, 16, 16, 32, 32, 32, 32, 32, 32):
        cout = item * w
        total += cin * cout * 9 + cout + 2 * cout  # conv weight + bias, BN weight + bias
        cin = cout
    return total + 32 * w * k + k


def resnet18_count(w: int, c: int, k: int) -> int:
    total = c * 4 * w * 9 + 2 * 4 * w  # stem conv (no bias) + BN
    cin = 4 * w
    for stage in range(4):
        p = 4 * w * 2**stage
        for block in range(2):
            total += cin * p * 9 + 2 * p + p * p * 9 + 2 * p
            if cin != p or (stage > 0 and block == 0):
                total += cin * p + 2 * p  # 1×1 conv + BN shortcut
            cin = p
    return total + 32 * w * k + k


def count(name: str, w: int, c: int, k: int, size: int) -> int:
    if name == "lenet":
        return lenet_count(w, c, k, size // 4)
    if name == "vgg":
        return vgg_count(w, c, k)
    return resnet18_count(w, c, k)


def test_registry_holds_the_paper_models():
    assert set(list_models()) == {"lenet", "vgg", "resnet18"} == set(MODELS)
    assert [default_width(n) for n in ("lenet", "vgg", "resnet18")] == [16, 8, 8]


def test_lenet_w16_is_the_madry_mnist_net():
    assert n_params(build_model("lenet", width=16)) == 3_274_634


def test_resnet18_w16_is_the_standard_resnet18():
    model = build_model("resnet18", width=16, in_channels=3, image_size=32)
    assert n_params(model) == 11_173_962  # the well-known CIFAR ResNet18 count


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("width,classes", [(1, 10), (2, 7)])
def test_output_shape_and_param_count(name, width, classes):
    c, size = NATIVE[name]
    model = build_model(name, width=width, num_classes=classes, in_channels=c, image_size=size)
    assert n_params(model) == count(name, width, c, classes, size)
    out = model(torch.rand(3, c, size, size))
    assert out.shape == (3, classes) and out.dtype == torch.float32


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("c,size", [(1, 28), (3, 32)])
def test_mnist_and_cifar_shapes(name, c, size):
    if name == "vgg" and size < 32:
        with pytest.raises(UserError, match="image_size >= 32"):
            build_model(name, width=1, in_channels=c, image_size=size)
        return
    model = build_model(name, width=1, in_channels=c, image_size=size)
    assert model(torch.rand(2, c, size, size)).shape == (2, 10)


@pytest.mark.parametrize("name", list_models())
def test_gradients_reach_every_parameter(name):
    c, size = NATIVE[name]
    model = build_model(name, width=1, in_channels=c, image_size=size)
    model(torch.rand(4, c, size, size)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", list_models())
def test_batchnorm_train_and_eval_modes(name):
    torch.manual_seed(0)
    c, size = NATIVE[name]
    model = build_model(name, width=1, in_channels=c, image_size=size)
    x = torch.rand(4, c, size, size)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bool(bns) == (name != "lenet")
    model.eval()
    # Eval mode: each example's output is independent of the rest of the batch, and no
    # running statistics move.
    before = [b.running_mean.clone() for b in bns]
    torch.testing.assert_close(model(x)[:1], model(x[:1]))
    assert all(torch.equal(b.running_mean, m) for b, m in zip(bns, before, strict=True))
    model.train()
    out_train = model(x)
    if bns:
        # Train mode: batch statistics are used and the running statistics are updated.
        assert not torch.allclose(out_train[:2], model(x[:2]))
        assert any(not torch.equal(b.running_mean, m) for b, m in zip(bns, before, strict=True))
    else:
        torch.testing.assert_close(out_train[:2], model(x[:2]))


def test_unknown_name_suggests_a_close_one():
    with pytest.raises(UserError, match="did you mean 'vgg'") as err:
        build_model("vgg16", width=8)
    assert "lenet" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="resnet18"):
        default_width("resnet")


@pytest.mark.parametrize("width", [0, -2, 1.5])
def test_bad_width(width):
    with pytest.raises(UserError, match="width"):
        build_model("lenet", width=width)
