"""Typed, frozen run configuration; YAML load/dump; `--set a.b=c` overrides.

Each section is owned by the component that consumes it; `RunConfig` only groups them.
Loading is strict: unknown keys are errors with a "did you mean", values are checked
against the field types, and range checks (`validate`) run before anything is written.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from advland.data import DataConfig
from advland.errors import UserError


@dataclass(frozen=True)
class ModelConfig:
    name: str = "lenet"
    width: int = 16


@dataclass(frozen=True)
class AttackConfig:
    """The training attack (PGD). `eps` is the target budget ε_target, in pixel units."""

    norm: str = "linf"
    eps: float = 0.3
    steps: int = 10
    step_size: float = 0.075  # at the target ε; see step_scaling
    random_start: str = "step"  # "step": uniform ±step (reference code) | "eps" | "none"
    step_scaling: str = "relative"  # "relative": step/ε kept constant as ε is scheduled | "fixed"
    model_mode: str = "eval"  # model mode while the attack runs: "eval" (reference) | "train"


@dataclass(frozen=True)
class EpsScheduleConfig:
    """Paper eq. 5; `warmup` is D in epochs (0 = the whole run, or period under PAS)."""

    kind: str = "constant"  # constant | linear | cosine
    eps_min: float = 0.0
    eps_max: float = 0.0
    warmup: float = 0.0


@dataclass(frozen=True)
class LRScheduleConfig:
    kind: str = "constant"  # constant | multistep | exponential
    milestones: tuple[float, ...] = ()
    gamma: float = 0.1
    final_lr: float = 0.0  # exponential: decays from optim.lr to final_lr over [start, end]
    start: float = 0.0
    end: float = 0.0
    warmup: float = 0.0  # linear learning-rate warmup from 0 over this many epochs


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"  # adam | sgd
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128
    seed: int = 0
    periods: tuple[float, ...] = ()  # PAS boundaries, e.g. [0, 100, 150, 200]; () = no resets
    update: str = "epoch"  # schedule time: "epoch" (integer d, paper) | "batch" (fractional)
    val_every: int = 1  # validate every N epochs (0 = never)
    val_steps: int = 0  # PGD steps for validation (0 = attack.steps)
    dynamics: str = "off"  # per-minibatch gradient norm / error / ‖θ−θ0‖: off | all | first-last
    dynamics_n: int = 500  # with first-last: how many minibatches at each end
    max_batches: int = 0  # stop each epoch after this many batches (0 = all; for dry runs)


@dataclass(frozen=True)
class EvalConfig:
    suite: str = "quick"  # quick (PGD-20) | standard (PGD-50x5, APGD-CE, APGD-DLR)
    batch_size: int = 500
    seed: int = 0
    limit: int = 0  # evaluate on the first N test points (0 = all)


@dataclass(frozen=True)
class PerfConfig:
    """Speed switches of the training loop; "auto" = on with CUDA, off on the CPU.

    The CPU defaults reproduce earlier runs bit for bit; evaluation always runs in fp32.
    """

    amp: str = "auto"  # auto | off | bf16: bf16 autocast for the training attack and update
    channels_last: str = "auto"  # auto | on | off: NHWC model and inputs
    compile: str = "auto"  # auto | on | off: torch.compile; static shapes (last batch dropped)


@dataclass(frozen=True)
class RunConfig:
    name: str = "run"
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    eps_schedule: EpsScheduleConfig = field(default_factory=EpsScheduleConfig)
    lr_schedule: LRScheduleConfig = field(default_factory=LRScheduleConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    perf: PerfConfig = field(default_factory=PerfConfig)


CHOICES: dict[str, tuple[str, ...]] = {
    "attack.norm": ("linf", "l2"),
    "attack.random_start": ("step", "eps", "none"),
    "attack.step_scaling": ("relative", "fixed"),
    "attack.model_mode": ("eval", "train"),
    "eps_schedule.kind": ("constant", "linear", "cosine"),
    "lr_schedule.kind": ("constant", "multistep", "exponential"),
    "optim.name": ("adam", "sgd"),
    "train.update": ("epoch", "batch"),
    "train.dynamics": ("off", "all", "first-last"),
    "eval.suite": ("quick", "standard"),
    "data.augment": ("auto", "none", "crop-flip"),
    "perf.amp": ("auto", "off", "bf16"),
    "perf.channels_last": ("auto", "on", "off"),
    "perf.compile": ("auto", "on", "off"),
}

ON_OFF = ("perf.amp", "perf.channels_last", "perf.compile")  # YAML booleans read as on/off

NON_NEGATIVE = (
    "attack.eps",
    "eps_schedule.warmup",
    "lr_schedule.warmup",
    "lr_schedule.final_lr",
    "optim.weight_decay",
    "optim.momentum",
    "data.val_size",
    "data.train_limit",
    "data.test_limit",
    "train.val_every",
    "train.val_steps",
    "train.dynamics_n",
    "train.max_batches",
    "eval.limit",
)
POSITIVE = (
    "attack.steps",
    "attack.step_size",
    "optim.lr",
    "train.epochs",
    "train.batch_size",
    "eval.batch_size",
    "model.width",
)


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


def from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    """Build dataclass `cls` from `data`, strictly: unknown keys and bad types are errors."""
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "config"
        raise UserError(f"'{where}' must be a mapping (a section of keys), got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in names:
            raise UserError(f"unknown config key '{path}'{_did_you_mean(key, names, prefix)}")
        kwargs[key] = _coerce(hints[key], value, path)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value if value is not None else {}, f"{path}.")
    origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"'{path}' must be a list, got {value!r}")
        inner = typing.get_args(tp)[0]
        return tuple(_coerce(inner, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _coerce(args[0], value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"'{path}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise UserError(f"'{path}' must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads "1e-4" (no dot) as a string; accept any float literal.
            try:
                return float(value)
            except ValueError:
                pass
        raise UserError(f"'{path}' must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool) and path in ON_OFF:
            return "on" if value else "off"  # YAML 1.1 reads on/off (and yes/no) as booleans
        raise UserError(f"'{path}' must be a string, got {value!r}")
    return value


def _did_you_mean(key: str, names: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(key, names, n=1)
    if close:
        return f"; did you mean '{prefix}{close[0]}'?"
    return f"; valid keys: {', '.join(prefix + n for n in names)}"


# ---------------------------------------------------------------- YAML and overrides


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file '{path}' not found; pass an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise UserError(f"config file '{path}' is not valid YAML: {str(e).splitlines()[0]}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file '{path}' must hold a mapping at the top level")
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b=c` strings; values are parsed as YAML scalars/lists (e.g. `[0,100,200]`)."""
    data = _deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override '{item}' must look like key=value, e.g. train.epochs=3")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
            value = raw.strip()  # YAML 1.1 reads off/on/yes/no as booleans: keep the word
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"override '{item}': '{part}' is not a section")
        node[parts[-1]] = value
    return data


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def build_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    data = load_yaml(path) if path else {}
    data = apply_overrides(data, overrides or [])
    cfg = from_dict(RunConfig, data)
    validate(cfg)
    return cfg


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


# ---------------------------------------------------------------- range checks


def _get(cfg: RunConfig, path: str) -> Any:
    obj: Any = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def validate(cfg: RunConfig) -> None:
    for path, choices in CHOICES.items():
        v = _get(cfg, path)
        if v not in choices:
            hint = difflib.get_close_matches(str(v), choices, n=1)
            dym = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise UserError(f"{path}='{v}' is not one of {', '.join(choices)}{dym}")
    for path in NON_NEGATIVE + POSITIVE:
        v = _get(cfg, path)
        if isinstance(v, float) and not math.isfinite(v):
            raise UserError(f"{path}={v} must be a finite number")
    for path in NON_NEGATIVE:
        if _get(cfg, path) < 0:
            raise UserError(f"{path}={_get(cfg, path)} must be >= 0")
    for path in POSITIVE:
        if _get(cfg, path) <= 0:
            raise UserError(f"{path}={_get(cfg, path)} must be > 0")
    _validate_ranges(cfg)
    _validate_name(cfg.name)


def _validate_name(name: str) -> None:
    # The name becomes the default run folder runs/<name>: it must not leave runs/.
    bad = not name or name in (".", "..") or any(c in name for c in "/\\\0")
    if bad or name.startswith("~"):
        raise UserError(
            f"name={name!r} must be a plain folder name (no '/', '\\', '..' or '~'), "
            f"e.g. name=mnist-lenet-cosine; use --out to choose another folder"
        )


def _validate_ranges(cfg: RunConfig) -> None:
    a, s, t = cfg.attack, cfg.eps_schedule, cfg.train
    if a.norm == "linf" and a.eps > 1:
        raise UserError(
            f"attack.eps={a.eps} exceeds the [0,1] pixel range; give ε in pixel units, e.g. 8/255=0.0314"
        )
    if s.kind != "constant" and s.eps_max <= 0:
        raise UserError(
            f"eps_schedule.eps_max={s.eps_max} must be > 0 for a {s.kind} warmup; "
            f"the paper uses 1.5-2x attack.eps (e.g. eps_max={2 * a.eps:g})"
        )
    if s.kind != "constant" and s.eps_min > s.eps_max:
        raise UserError(f"eps_schedule.eps_min={s.eps_min} must not exceed eps_max={s.eps_max}")
    if t.periods:
        b = t.periods
        bad = len(b) < 2 or b[0] != 0 or b[-1] != t.epochs or any(x >= y for x, y in pairwise(b))
        if bad or any(not float(x).is_integer() for x in b):
            raise UserError(
                f"train.periods={list(b)} must be whole epochs increasing from 0 to train.epochs={t.epochs}, "
                f"e.g. [0, {t.epochs // 2}, {t.epochs}]"
            )
    lr = cfg.lr_schedule
    if lr.kind == "exponential" and (lr.final_lr <= 0 or lr.end <= lr.start):
        raise UserError(
            "lr_schedule exponential needs final_lr > 0 and end > start "
            f"(got final_lr={lr.final_lr}, start={lr.start}, end={lr.end})"
        )
    if cfg.data.val_size == 0 and t.val_every > 0:
        raise UserError(
            "train.val_every > 0 needs a validation split; set data.val_size > 0 or train.val_every=0"
        )
