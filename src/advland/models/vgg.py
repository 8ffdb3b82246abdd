"""VGG16 for CIFAR-10 (paper Table 2; w=8 is half-width VGG16).

Layout ``[4,4,M,8,8,M,16,16,16,M,32,32,32,M,32,32,32,M]`` × w, each entry a
conv3×3(pad 1, with bias as in the reference code) + BatchNorm + ReLU, ``M`` a 2×2 max-pool,
then the average pool ``A`` of Table 2 (adaptive, to 1×1: the identity on 32×32 inputs,
a true average on larger ones) and FC(32w→classes). Five pools need image_size >= 32.
"""

from __future__ import annotations

import torch
from torch import nn

from advland.errors import UserError
from advland.models.registry import register

LAYOUT: tuple[int | str, ...] = (4, 4, "M", 8, 8, "M", 16, 16, 16, "M") + (32, 32, 32, "M") * 2


def _features(width: int, in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = in_channels
    for item in LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        out = int(item) * width
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
        channels = out
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, width: int, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__()
        if image_size < 32:
            raise UserError(
                f"VGG has five 2×2 max-pools and needs image_size >= 32, got {image_size}; "
                "use lenet or resnet18 for smaller images"
            )
        self.features = _features(width, in_channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(32 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


@register("vgg", default_width=8)
def vgg(*, width: int, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    return VGG(width, num_classes, in_channels, image_size)
