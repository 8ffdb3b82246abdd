"""What the `theory` checks return: one `Check` per claim, and the data the figures plot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """One entry of `theory.json`: the check's name, the paper's claim, the numbers, passed."""

    name: str
    claim: str
    measured: dict[str, Any]
    passed: bool

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "claim": self.claim,
            "measured": self.measured,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class TheoryFigures:
    """The plain data of the four figures (Fig. 5, Theorem 3, collapse, version space)."""

    sketch: dict
    theorem3: dict
    collapse: dict
    version_space: dict


@dataclass(frozen=True)
class TheoryResult:
    """Every check in a fixed order, the figure data and the device they ran on."""

    checks: tuple[Check, ...]
    figures: TheoryFigures
    device: str

    @property
    def all_passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]
