"""Models of the paper's Table 2, resolved by name through a small registry.

Initialisation is PyTorch's default (Kaiming-uniform conv/linear weights, BN weight 1 and
bias 0), as in the reference code. Inputs are images in [0,1]; there is no normalisation
layer, so attack budgets are always in pixel space.
"""

from __future__ import annotations

# Importing the model modules registers them.
from advland.models import lenet, resnet, vgg  # noqa: F401
from advland.models.registry import MODELS, build_model, default_width, list_models, register

__all__ = ["MODELS", "build_model", "default_width", "list_models", "register"]
