"""P copies of a network as one grouped network: logits equal functional_call per point."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from advland.analysis.landscape.grouped import GroupedNet, NotGroupable, from_grouped, to_grouped
from advland.models import build_model


def stacked_params(model: nn.Module, points: int, g: torch.Generator) -> dict:
    """Every parameter of `model`, perturbed differently for each of `points` points."""
    return {
        n: p.detach() + 0.1 * torch.randn(points, *p.shape, generator=g, dtype=p.dtype)
        for n, p in model.named_parameters()
    }


@pytest.mark.parametrize(
    "arch,shape",
    [("lenet", (1, 12, 12)), ("resnet18", (3, 8, 8)), ("vgg", (3, 32, 32))],
)
@pytest.mark.parametrize("channels_last", [True, False])
def test_grouped_logits_equal_each_points_own(arch, shape, channels_last):
    torch.manual_seed(0)
    model = build_model(arch, width=1, in_channels=shape[0], image_size=shape[1]).double()
    model.train()(torch.rand(8, *shape, dtype=torch.float64))  # non-trivial BN statistics
    model.eval()
    g = torch.Generator().manual_seed(1)
    params = stacked_params(model, 3, g)
    x = torch.rand(3, 4, *shape, generator=g, dtype=torch.float64)  # own inputs per point
    z = GroupedNet(model).logits(params, to_grouped(x, channels_last))
    for p in range(3):
        ref = functional_call(model, {k: v[p] for k, v in params.items()}, (x[p],))
        torch.testing.assert_close(z[p], ref, rtol=1e-10, atol=1e-10)


def test_layout_round_trip_is_a_view():
    x = torch.rand(5, 2, 3, 4, 4)
    xg = to_grouped(x, channels_last=True)
    assert xg.shape == (2, 15, 4, 4) and xg.is_contiguous(memory_format=torch.channels_last)
    back = from_grouped(xg, 5)
    assert torch.equal(back, x) and back.data_ptr() == xg.data_ptr()


def test_unsupported_layers_are_refused_by_name():
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(NotGroupable, match="0: Conv1d"):
        GroupedNet(model)


def test_a_forward_that_mixes_channels_fails_the_check():
    class Mix(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x - x.mean(1, keepdim=True))  # a mean over ALL (grouped) features

    torch.manual_seed(0)
    model = Mix().eval()
    params = stacked_params(model, 2, torch.Generator().manual_seed(0))
    assert not GroupedNet(model).matches(model, params, torch.rand(3, 4))
    plain = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    params = stacked_params(plain, 2, torch.Generator().manual_seed(0))
    assert GroupedNet(plain).matches(plain, params, torch.rand(3, 4))
