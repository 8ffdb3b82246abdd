"""LeNet for MNIST (paper Table 2; the Madry et al. MNIST network at w=16, 3,274,634 params).

conv5×5(C→2w, pad 2)-ReLU-maxpool2, conv5×5(2w→4w, pad 2)-ReLU-maxpool2,
FC(s·s·4w→64w)-ReLU, FC(64w→classes), where s = image_size // 4 (7 for 28×28 inputs).
Inputs in [0,1], no normalisation layer (the reference normaliser is the identity).
"""

from __future__ import annotations

import torch
from torch import nn

from advland.errors import UserError
from advland.models.registry import register


class LeNet(nn.Module):
    def __init__(self, width: int, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__()
        side = image_size // 2 // 2  # two 2×2 max-pools, floor like nn.MaxPool2d
        if side < 1:
            raise UserError(f"LeNet needs image_size >= 4, got {image_size}; use 28 for MNIST")
        self.conv1 = nn.Conv2d(in_channels, 2 * width, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(2 * width, 4 * width, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(side * side * 4 * width, 64 * width)
        self.fc2 = nn.Linear(64 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = self.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


@register("lenet", default_width=16)
def lenet(*, width: int, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    return LeNet(width, num_classes, in_channels, image_size)
