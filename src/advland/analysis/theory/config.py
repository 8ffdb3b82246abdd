"""Settings of the `theory` tool: one section per result of the paper's section 3 it checks.

`TheoryConfig` holds the seed, device and thread count and the sections `logistic` (eq. 6),
`theorem3`, `multiclass` (Sec. 3.1's data and training), `theorem1` (when the trained model
counts as collapsed), `proposition1`, `sketch` (Fig. 5) and `theorem2`. Each field states its
bounds next to itself; `validate_tool` (the analysis runner's validator) enforces them, and each section's
`check` the rules on lists.

The flat keys of earlier releases (`thm3_n`, `mc_classes`, `vs_samples`, …: a section's
prefix followed by the field name) are still accepted, as keyword arguments of
`TheoryConfig` and in the plain data given to `theory_config` (`--set thm3_n=300`), with a
DeprecationWarning. An error about a value set that way names the key the user wrote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import re
import typing
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from advland.analysis.runner import validate_tool
from advland.analysis.theory.logistic import dual_exponent
from advland.errors import UserError
from advland.validation import from_dict, setting

INF = math.inf


def _increasing_grid(path: str, grid: tuple[float, ...]) -> None:
    if not grid or min(grid) < 0 or list(grid) != sorted(grid):
        raise UserError(
            f"{path} must be a non-empty increasing list of values >= 0, got {list(grid)}"
        )


@dataclass(frozen=True)
class LogisticSettings:
    """Binary logistic regression (eq. 6): the closed form against brute force, autograd, PGD."""

    p: tuple[float, ...] = setting((INF, 2.0, 1.0, 3.0))  # each >= 1 (or inf)
    n: int = setting(16, ge=1)
    eps: float = setting(0.5)
    grid: int = setting(20_001)  # points on the l_p sphere in 2-D (p not in {1, inf})

    def check(self, prefix: str) -> None:
        for p in self.p:
            dual_exponent(p)  # raises a UserError for p < 1


@dataclass(frozen=True)
class Theorem3Settings:
    """Theorem 3: the Hessian of eq. 7 on separable data grows with eps up to eps_hat."""

    n: int = setting(200, ge=1)
    dim: int = setting(5, ge=1)
    eps_hat: float = setting(0.5)
    eps_fractions: tuple[float, ...] = setting(tuple(i / 10 for i in range(21)))  # x eps_hat
    directions: int = setting(200, ge=1)

    def check(self, prefix: str) -> None:
        _increasing_grid(f"{prefix}eps_fractions", self.eps_fractions)


@dataclass(frozen=True)
class MulticlassSettings:
    """Multi-class linear models (Sec. 3.1): the data, the eps grid and adversarial training."""

    classes: int = setting(3, ge=3)
    dim: int = setting(2, ge=2, le=12)  # exact vertex enumeration visits 2^dim box vertices
    per_class: int = setting(20, ge=1)
    radius: float = setting(1.0)
    noise: float = setting(0.15)
    eps_grid: tuple[float, ...] = setting(tuple(i / 10 for i in range(15)))
    steps: int = setting(2000, ge=1)
    lr: float = setting(0.5)
    pgd_restarts: int = setting(10, ge=1)

    def check(self, prefix: str) -> None:
        _increasing_grid(f"{prefix}eps_grid", self.eps_grid)


@dataclass(frozen=True)
class Theorem1Settings:
    """Theorem 1: when a model trained at eps counts as the constant classifier."""

    norm_tol: float = setting(1e-2)  # centered ||W|| at most this
    loss_tol: float = setting(1e-4)  # |loss - log K| at most this
    band: float = setting(0.1)  # grid points within +-band·eps* of eps* are not judged


@dataclass(frozen=True)
class Proposition1Settings:
    """Proposition 1: the version space, estimated from Gaussian samples of W."""

    samples: int = setting(10_000, ge=1)


@dataclass(frozen=True)
class SketchSettings:
    """Fig. 5: the 1-D sketch at input x, one panel per budget."""

    x: float = setting(1.0)
    eps: tuple[float, ...] = setting((0.6, 1.2))

    def check(self, prefix: str) -> None:
        _increasing_grid(f"{prefix}eps", self.eps)


@dataclass(frozen=True)
class Theorem2Settings:
    """Theorem 2 (eq. 4): gradient norms along SGD on the sketch loss."""

    points: int = setting(32, ge=1)
    mean_x: float = setting(0.3)
    eps_grid: tuple[float, ...] = setting((0.0, 0.15, 0.6, 1.2))
    steps: int = setting(2000, ge=1)
    gammas: tuple[float, ...] = setting((2.0, 3.0, 4.0, 6.0))  # the bound needs gamma >= 2

    def check(self, prefix: str) -> None:
        _increasing_grid(f"{prefix}eps_grid", self.eps_grid)
        if not self.gammas or min(self.gammas) < 2:
            raise UserError(f"{prefix}gammas must be >= 2, got {list(self.gammas)}")


def _accepts_old_keys(cls: type) -> type:
    """Let `cls(...)` take the old flat keys too (DeprecationWarning)."""
    init = vars(cls)["__init__"]

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        rest, by_section, used = _split_old_keys(kwargs)
        for section, values in by_section.items():
            base = rest.get(section) or section_types()[section]()
            rest[section] = dataclasses.replace(base, **values)
        with _errors_name_old_keys(used):
            init(self, *args, **rest)
        _warn_old_keys(used, stacklevel=2)

    cls.__init__ = __init__  # type: ignore[misc]
    return cls


@_accepts_old_keys
@dataclass(frozen=True)
class TheoryConfig:
    """Settings of `advland analyze theory`; check k draws from a generator seeded seed + k."""

    seed: int = setting(0)
    # tiny float64 problems: per-op overhead dominates, so CPU and one intra-op thread
    device: str = setting("cpu")
    threads: int = setting(1, ge=1)
    logistic: LogisticSettings = field(default_factory=LogisticSettings)
    theorem3: Theorem3Settings = field(default_factory=Theorem3Settings)
    multiclass: MulticlassSettings = field(default_factory=MulticlassSettings)
    theorem1: Theorem1Settings = field(default_factory=Theorem1Settings)
    proposition1: Proposition1Settings = field(default_factory=Proposition1Settings)
    sketch: SketchSettings = field(default_factory=SketchSettings)
    theorem2: Theorem2Settings = field(default_factory=Theorem2Settings)

    def __post_init__(self) -> None:
        validate_tool(self)


def theory_config(
    data: dict, *, on_old_key: Callable[[str, str], None] | None = None
) -> TheoryConfig:
    """Build a TheoryConfig from plain data (`--set` overrides, YAML, JSON), strictly.

    Old flat keys are moved to their sections; after a successful build, `on_old_key(old,
    new)` is called for each one used (default: a DeprecationWarning)."""
    rest, by_section, used = _split_old_keys(data)
    for section, values in by_section.items():
        base = rest.get(section, {})
        rest[section] = {**base, **values} if isinstance(base, dict) else base
    with _errors_name_old_keys(used):
        cfg = from_dict(TheoryConfig, rest)
    for new, old in used.items():
        if on_old_key is None:
            _warn_old_keys({new: old}, stacklevel=2)
        else:
            on_old_key(old, new)
    return cfg


# ---------------------------------------------------------------- old flat keys
# an old key is its section's prefix followed by the field name: thm3_n -> theorem3.n
_OLD_PREFIXES = {
    "logistic_": "logistic",
    "thm3_": "theorem3",
    "mc_": "multiclass",
    "collapse_": "theorem1",
    "vs_": "proposition1",
    "sketch_": "sketch",
    "thm2_": "theorem2",
}


@functools.cache
def section_types() -> dict[str, type]:
    """{section name: its settings class} of TheoryConfig."""
    hints = typing.get_type_hints(TheoryConfig)
    return {s: hints[s] for s in _OLD_PREFIXES.values()}


@functools.cache
def old_keys() -> dict[str, str]:
    """{old flat key: nested path}, e.g. {'thm3_n': 'theorem3.n', 'vs_samples': ...}."""
    types = section_types()
    return {
        prefix + f.name: f"{section}.{f.name}"
        for prefix, section in _OLD_PREFIXES.items()
        for f in dataclasses.fields(types[section])
    }


def _split_old_keys(data: dict) -> tuple[dict, dict[str, dict], dict[str, str]]:
    """(data without old keys, {section: {field: value}} from them, {nested path: old key})."""
    old = old_keys()
    rest = {k: v for k, v in data.items() if k not in old}
    by_section: dict[str, dict] = {}
    used: dict[str, str] = {}
    for key in [k for k in data if k in old]:
        section, name = old[key].split(".")
        if isinstance(rest.get(section), dict) and name in rest[section]:
            raise UserError(f"'{key}' and '{old[key]}' set the same value; keep '{old[key]}'")
        by_section.setdefault(section, {})[name] = data[key]
        used[old[key]] = key
    return rest, by_section, used


@contextlib.contextmanager
def _errors_name_old_keys(used: dict[str, str]) -> Iterator[None]:
    """Re-raise a UserError about a value set through an old key with that key in it."""
    try:
        yield
    except UserError as e:
        msg = str(e)
        for new, old in used.items():
            msg = re.sub(rf"\b{re.escape(new)}\b", old, msg)
        if msg == str(e):
            raise
        raise UserError(msg) from e


def _warn_old_keys(used: dict[str, str], stacklevel: int) -> None:
    for new, old in used.items():
        warnings.warn(
            f"theory setting '{old}' is deprecated; use '{new}' "
            "(the old name will be removed in the next release)",
            DeprecationWarning,
            stacklevel=stacklevel + 1,
        )
