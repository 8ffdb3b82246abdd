"""Attack registry: names used in configs and on the command line -> attack functions.

Every attack is called as ``attack(model, x, y, threat, *, generator=…, model_mode=…,
**options)`` and returns x_adv detached; options are attack-specific (``steps`` and
``step_size`` for "pgd", ``steps``/``restarts``/``rho`` for the APGD variants).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import partial

import torch

from advland.attacks.apgd import apgd
from advland.attacks.fgsm import fgsm
from advland.attacks.pgd import pgd
from advland.errors import UserError

Attack = Callable[..., torch.Tensor]

ATTACKS: dict[str, Attack] = {
    "fgsm": fgsm,
    "pgd": pgd,
    "apgd-ce": partial(apgd, loss="ce"),
    "apgd-dlr": partial(apgd, loss="dlr"),
}


def list_attacks() -> list[str]:
    return sorted(ATTACKS)


def get_attack(name: str) -> Attack:
    if name in ATTACKS:
        return ATTACKS[name]
    close = difflib.get_close_matches(name, list(ATTACKS), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UserError(f"unknown attack '{name}'; choose one of {', '.join(list_attacks())}{hint}")
