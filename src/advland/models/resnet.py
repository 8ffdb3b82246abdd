"""ResNet18 for CIFAR-10 (paper Table 2; w=16 is the standard ResNet18, w=8 half width).

Stem conv3×3(stride 1, no bias) to 4w + BN + ReLU, no max-pool; four stages of two basic
blocks at 4w/8w/16w/32w with strides 1,2,2,2 (1×1 conv + BN shortcut when the shape
changes); average pool (adaptive to 1×1, i.e. the reference's 4×4 pool on 32×32 inputs,
and still defined for other sizes); FC(32w→classes).
"""

from __future__ import annotations

import torch
from torch import nn

from advland.models.registry import register


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(
        self, blocks: tuple[int, ...], width: int, num_classes: int, in_channels: int
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 4 * width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(4 * width),
            nn.ReLU(),
        )
        stages: list[nn.Module] = []
        in_planes = 4 * width
        for i, n in enumerate(blocks):
            planes = 4 * width * 2**i
            strides = [1 if i == 0 else 2] + [1] * (n - 1)
            stage = []
            for s in strides:
                stage.append(BasicBlock(in_planes, planes, s))
                in_planes = planes
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.classifier(self.pool(x).flatten(1))


@register("resnet18", default_width=8)
def resnet18(*, width: int, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    del image_size  # the adaptive pool makes ResNet18 size-agnostic
    return ResNet((2, 2, 2, 2), width, num_classes, in_channels)
