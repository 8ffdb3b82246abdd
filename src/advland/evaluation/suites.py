"""Named evaluation suites: which attacks, with which settings.

PGD entries are `AttackConfig`s, the one attack specification of advland, with ε left at 0:
the budget and norm of the evaluated run are filled in at evaluation time (`at_budget`).
Their steps are fractions of ε (`step_ratio`), so a suite means the same thing at every
budget. Evaluation attacks start uniformly inside the ε-ball (the standard for
evaluation), unlike training. APGD entries (`APGD`) adapt their step size themselves.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import TypeVar

from advland.attacks import Threat
from advland.attacks.spec import AttackConfig


@dataclass(frozen=True)
class APGD:
    """Auto-PGD (Croce & Hein 2020) with the cross-entropy ("ce") or DLR ("dlr") loss; its
    budget (norm, ε) is filled in at evaluation time like a PGD entry's."""

    loss: str
    steps: int = 100
    restarts: int = 1
    norm: str = "linf"
    eps: float = 0.0

    @property
    def name(self) -> str:
        return f"apgd-{self.loss}"

    def threat(self) -> Threat:
        return Threat(self.norm, self.eps)


@dataclass(frozen=True)
class Named:
    """An attack of `advland.attacks.ATTACKS` by name with its options (APGD-T, FAB-T,
    Square); its budget is filled in at evaluation time like a PGD entry's."""

    name: str
    options: tuple[tuple[str, int | float], ...] = ()
    label: str = ""
    norm: str = "linf"
    eps: float = 0.0

    def threat(self) -> Threat:
        return Threat(self.norm, self.eps)


SuiteAttack = AttackConfig | APGD | Named


def pgd_entry(steps: int, step_ratio: float, restarts: int = 1) -> AttackConfig:
    """A suite's PGD attack: step `step_ratio`·ε, uniform start in the ε-ball."""
    return AttackConfig(
        eps=0.0, steps=steps, step_ratio=step_ratio, restarts=restarts, random_start="eps"
    )


SUITES: dict[str, tuple[SuiteAttack, ...]] = {
    "quick": (pgd_entry(20, 0.25),),
    "standard": (pgd_entry(50, 0.1, restarts=5), APGD("ce"), APGD("dlr")),
    # AutoAttack's standard version (Croce & Hein 2020): APGD-CE, APGD-T (9 targets),
    # FAB-T (9 targets), Square (5,000 queries), 100 iterations and 1 restart each.
    "autoattack": (
        APGD("ce"),
        Named("apgd-t", (("steps", 100), ("targets", 9)), "APGD-T-100x9"),
        Named("fab-t", (("steps", 100), ("targets", 9)), "FAB-T-100x9"),
        Named("square", (("queries", 5000),), "Square-5000"),
    ),
}

# A suite must never report a lower robust error than the suites listed here; they run
# beside it and the reported robust error is the per-example worst case over all of them.
WEAKER: dict[str, tuple[str, ...]] = {
    "autoattack": ("quick",),
    "standard": ("quick",),
    "quick": (),
}
# Attacks that use no gradient: points only they break hint at gradient masking.
BLACK_BOX = ("square",)


A = TypeVar("A", bound=SuiteAttack)


def at_budget(attack: A, *, norm: str, eps: float) -> A:
    """The suite attack at the evaluated budget."""
    return replace(attack, norm=norm, eps=eps)


def describe(attack: SuiteAttack) -> str:
    """E.g. "PGD-50x5 (step 0.1ε)" or "APGD-CE-100"."""
    if isinstance(attack, APGD):
        return f"{attack.name.upper()}-{attack.steps}"
    if isinstance(attack, Named):
        return attack.label or attack.name
    r = f"x{attack.restarts}" if attack.restarts > 1 else ""
    step = f"{attack.step_ratio:g}ε" if attack.step_size is None else f"{attack.step_size:g}"
    return f"PGD-{attack.steps}{r} (step {step})"


def describe_suite(name: str) -> str:
    return " + ".join(describe(attack) for attack in SUITES[name])


def AttackSpec(
    name: str, steps: int, step_ratio: float = 0.25, restarts: int = 1, random_start: str = "eps"
) -> SuiteAttack:
    """Deprecated: build a suite entry with `pgd_entry` (an `AttackConfig`) or `APGD`."""
    warnings.warn(
        "advland.evaluation.suites.AttackSpec is deprecated; suite entries are AttackConfig "
        "(pgd_entry) or APGD; the old name will be removed in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    if name == "pgd":
        return replace(pgd_entry(steps, step_ratio, restarts), random_start=random_start)
    return APGD({"apgd-ce": "ce", "apgd-dlr": "dlr"}[name], steps, restarts)
