"""Adversarial attacks in pixel space ([0,1] inputs) under an ℓ∞ or ℓ2 threat model.

All attacks are functions ``(model, x, y, threat, ...) -> x_adv`` that run with the
parameters frozen (no parameter gradients built or accumulated), the model in eval mode by
default (restored afterwards), and randomness drawn only from the ``generator`` passed in.
"""

from __future__ import annotations

from advland.attacks.apgd import apgd
from advland.attacks.apgd_t import apgd_t
from advland.attacks.fab import fab_t
from advland.attacks.fgsm import fgsm
from advland.attacks.losses import LOSSES, cross_entropy, dlr, get_loss, margin
from advland.attacks.pgd import attack_mode, pgd
from advland.attacks.registry import ATTACKS, get_attack, list_attacks
from advland.attacks.square import square
from advland.attacks.threat import Threat

__all__ = [
    "ATTACKS",
    "LOSSES",
    "Threat",
    "apgd",
    "apgd_t",
    "attack_mode",
    "cross_entropy",
    "dlr",
    "fab_t",
    "fgsm",
    "get_attack",
    "get_loss",
    "list_attacks",
    "margin",
    "pgd",
    "square",
]
