"""Named evaluation suites: which attacks, with which settings (DESIGN §5).

Step sizes are fractions of ε so a suite means the same thing at every budget. Evaluation
attacks start uniformly inside the ε-ball (the standard for evaluation), unlike training.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttackSpec:
    name: str  # "pgd" | "apgd-ce" | "apgd-dlr"
    steps: int
    step_ratio: float = 0.25  # PGD step = step_ratio · ε (unused by APGD, which adapts it)
    restarts: int = 1
    random_start: str = "eps"

    def describe(self) -> str:
        if self.name == "pgd":
            r = f"x{self.restarts}" if self.restarts > 1 else ""
            return f"PGD-{self.steps}{r} (step {self.step_ratio:g}ε)"
        return f"{self.name.upper()}-{self.steps}"


SUITES: dict[str, tuple[AttackSpec, ...]] = {
    "quick": (AttackSpec("pgd", 20, 0.25),),
    "standard": (
        AttackSpec("pgd", 50, 0.1, restarts=5),
        AttackSpec("apgd-ce", 100),
        AttackSpec("apgd-dlr", 100),
    ),
}

# A suite must never report a lower robust error than the suites listed here.
WEAKER: dict[str, tuple[str, ...]] = {"standard": ("quick",), "quick": ()}


def describe_suite(name: str) -> str:
    return " + ".join(spec.describe() for spec in SUITES[name])
