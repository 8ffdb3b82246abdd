"""Declarative configs: each field states its type, choices and bounds next to itself.

Every config in advland (the run config's sections, the attack, every analysis tool) is a
frozen dataclass whose fields are declared with `setting(...)`. One generic pair of
functions serves them all:

- `from_dict(cls, data)` builds a config from plain data (YAML, `--set` overrides, JSON),
  strictly: an unknown key is an error with a "did you mean", and each value is checked
  against its field's type;
- `validate(cfg)` enforces the declared choices and bounds of every field, recursing into
  nested configs, then calls the config's own `check(prefix)` for rules that relate
  several fields.

Errors are one-line `UserError`s that name the full dotted path (`attack.eps=-1.0 must be
>= 0`), so a user knows which key to change.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any

from advland.errors import UserError

_KEY = "advland"


def setting(
    default: Any = dataclasses.MISSING,
    *,
    choices: tuple[str, ...] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    on_off: bool = False,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A config field with its rules: `choices` (strings), bounds `ge`/`gt`/`le` (numbers
    must then also be finite; None skips the checks), `on_off` (YAML booleans read as
    "on"/"off")."""
    meta = {_KEY: {"choices": choices, "ge": ge, "gt": gt, "le": le, "on_off": on_off}}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def rules(f: dataclasses.Field) -> dict:
    return f.metadata.get(_KEY, {})


# ---------------------------------------------------------------- dict <-> dataclass


def to_dict(cfg: Any) -> dict:
    """Plain dict of primitives (tuples become lists) for YAML/JSON/checkpoints."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            v = to_dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def from_dict(cls: type, data: Any, prefix: str = "") -> Any:
    """Build dataclass `cls` from `data`, strictly: unknown keys and bad types are errors."""
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "config"
        raise UserError(f"'{where}' must be a mapping (a section of keys), got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in fields:
            raise UserError(f"unknown config key '{path}'{did_you_mean(key, list(fields), prefix)}")
        on_off = bool(rules(fields[key]).get("on_off"))
        kwargs[key] = _coerce(hints[key], value, path, on_off)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, path: str, on_off: bool = False) -> Any:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value if value is not None else {}, f"{path}.")
    origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"'{path}' must be a list, got {value!r}")
        inner = typing.get_args(tp)[0]
        return tuple(_coerce(inner, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _coerce(args[0], value, path, on_off)
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"'{path}' must be a mapping, got {value!r}")
        return dict(value)
    scalar = _SCALARS.get(tp)
    return value if scalar is None else scalar(value, path, on_off)


def _bool(value: Any, path: str, on_off: bool) -> bool:
    if isinstance(value, bool):
        return value
    raise UserError(f"'{path}' must be true or false, got {value!r}")


def _int(value: Any, path: str, on_off: bool) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise UserError(f"'{path}' must be an integer, got {value!r}")


def _float(value: Any, path: str, on_off: bool) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        # YAML 1.1 reads "1e-4" (no dot) as a string; accept any float literal.
        try:
            return float(value)
        except ValueError:
            pass
    raise UserError(f"'{path}' must be a number, got {value!r}")


def _str(value: Any, path: str, on_off: bool) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) and on_off:
        return "on" if value else "off"  # YAML 1.1 reads on/off (and yes/no) as booleans
    raise UserError(f"'{path}' must be a string, got {value!r}")


_SCALARS = {bool: _bool, int: _int, float: _float, str: _str}


def did_you_mean(key: str, names: list[str], prefix: str = "") -> str:
    """ "; did you mean 'x'?" for the closest name, else the list of valid keys."""
    close = difflib.get_close_matches(key, names, n=1)
    if close:
        return f"; did you mean '{prefix}{close[0]}'?"
    return f"; valid keys: {', '.join(prefix + n for n in names)}"


# ---------------------------------------------------------------- declared rules


def validate(cfg: Any, prefix: str = "") -> None:
    """Check every declared rule of `cfg` and its nested configs; raise a one-line
    UserError naming the first value that breaks one. Cross-field rules come last, from
    the config's own `check(prefix)` method, if it has one."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            validate(value, f"{path}.")
            continue
        r = rules(f)
        if r and value is not None:
            _check_value(path, value, r)
    check = getattr(cfg, "check", None)
    if callable(check):
        check(prefix)


def _check_value(path: str, value: Any, r: dict) -> None:
    choices = r.get("choices")
    if choices is not None and value not in choices:
        hint = difflib.get_close_matches(str(value), choices, n=1)
        dym = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise UserError(f"{path}='{value}' is not one of {', '.join(choices)}{dym}")
    bounds: list[tuple[float, str]] = [
        (bound, k) for k in ("ge", "gt", "le") if (bound := r.get(k)) is not None
    ]
    if not bounds or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{path}={value} must be a finite number")
    for bound, kind in bounds:
        if kind == "ge" and value < bound:
            raise UserError(f"{path}={value} must be >= {bound:g}")
        if kind == "gt" and value <= bound:
            raise UserError(f"{path}={value} must be > {bound:g}")
        if kind == "le" and value > bound:
            raise UserError(f"{path}={value} must be <= {bound:g}")
