"""Attack registry: names used in configs and on the command line -> attack functions.

Every attack is called as ``attack(model, x, y, threat, *, generator=…, model_mode=…,
**options)`` and returns x_adv detached; options are attack-specific (``steps`` and
``step_size`` for "pgd", ``steps``/``restarts``/``rho`` for the APGD variants, ``targets`` for APGD-T and FAB-T,
``queries``/``p_init`` for Square).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from advland.attacks.apgd import apgd
from advland.attacks.apgd_t import apgd_t
from advland.attacks.fab import fab_t
from advland.attacks.fgsm import fgsm
from advland.attacks.pgd import pgd
from advland.attacks.square import square
from advland.errors import lookup

Attack = Callable[..., torch.Tensor]

ATTACKS: dict[str, Attack] = {
    "fgsm": fgsm,
    "pgd": pgd,
    "apgd-ce": partial(apgd, loss="ce"),
    "apgd-dlr": partial(apgd, loss="dlr"),
    "apgd-t": apgd_t,
    "fab-t": fab_t,
    "square": square,
}


def list_attacks() -> list[str]:
    return sorted(ATTACKS)


def get_attack(name: str) -> Attack:
    return lookup("attack", name, ATTACKS, list_attacks())
