"""The run configuration: typed, frozen sections with their rules; YAML load/dump;
`--set a.b=c` overrides.

Each section is owned by the component that consumes it; `RunConfig` only groups them.
Every field declares its type, choices and bounds where it is defined (`setting`), and the
one generic validator in `advland.validation` enforces them; rules that relate several
fields are the sections' `check` methods. Loading is strict: unknown keys are errors with
a "did you mean", values are checked against the field types, and all rules run before
anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from advland.attacks.spec import AttackConfig
from advland.data import DataConfig
from advland.errors import UserError
from advland.validation import from_dict, setting, to_dict, validate

__all__ = [
    "AttackConfig",
    "EpsScheduleConfig",
    "EvalConfig",
    "LRScheduleConfig",
    "LogConfig",
    "ModelConfig",
    "OptimConfig",
    "PerfConfig",
    "RunConfig",
    "TrainConfig",
    "apply_overrides",
    "build_config",
    "dump_yaml",
    "from_dict",
    "load_yaml",
    "to_dict",
]


@dataclass(frozen=True)
class ModelConfig:
    """`name`: a registered model, or an import path "my_pkg.models:build" called with
    `kwargs` (and the data's num_classes / in_channels / image_size where it accepts them)."""

    name: str = "lenet"
    width: int = setting(16, gt=0)
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EpsScheduleConfig:
    """Paper eq. 5; `warmup` is D in epochs (0 = the whole run, or period under PAS)."""

    kind: str = setting("constant", choices=("constant", "linear", "cosine"))
    eps_min: float = 0.0
    eps_max: float = 0.0
    warmup: float = setting(0.0, ge=0)

    def check(self, prefix: str = "") -> None:
        if self.kind != "constant" and self.eps_max <= 0:
            raise UserError(
                f"{prefix}eps_max={self.eps_max} must be > 0 for a {self.kind} warmup; "
                f"the paper uses 1.5-2x attack.eps"
            )
        if self.kind != "constant" and self.eps_min > self.eps_max:
            raise UserError(
                f"{prefix}eps_min={self.eps_min} must not exceed eps_max={self.eps_max}"
            )


@dataclass(frozen=True)
class LRScheduleConfig:
    kind: str = setting("constant", choices=("constant", "multistep", "exponential"))
    milestones: tuple[float, ...] = ()
    gamma: float = 0.1
    final_lr: float = setting(0.0, ge=0)  # exponential: from optim.lr to final_lr over [start, end]
    start: float = 0.0
    end: float = 0.0
    warmup: float = setting(0.0, ge=0)  # linear learning-rate warmup from 0 over this many epochs

    def check(self, prefix: str = "") -> None:
        if self.kind == "exponential" and (self.final_lr <= 0 or self.end <= self.start):
            raise UserError(
                f"{prefix.rstrip('.')} exponential needs final_lr > 0 and end > start "
                f"(got final_lr={self.final_lr}, start={self.start}, end={self.end})"
            )


@dataclass(frozen=True)
class OptimConfig:
    name: str = setting("adam", choices=("adam", "sgd"))
    lr: float = setting(1e-3, gt=0)
    momentum: float = setting(0.9, ge=0)
    nesterov: bool = True
    weight_decay: float = setting(0.0, ge=0)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = setting(20, gt=0)
    batch_size: int = setting(128, gt=0)
    seed: int = 0
    periods: tuple[float, ...] = ()  # PAS boundaries, e.g. [0, 100, 150, 200]; () = no resets
    # schedule time: "epoch" (integer d, paper) | "batch" (fractional)
    update: str = setting("epoch", choices=("epoch", "batch"))
    val_every: int = setting(1, ge=0)  # validate every N epochs (0 = never)
    val_steps: int = setting(0, ge=0)  # PGD steps for validation (0 = attack.steps)
    # per-minibatch gradient norm / error / ‖θ−θ0‖
    dynamics: str = setting("off", choices=("off", "all", "first-last"))
    dynamics_n: int = setting(500, ge=0)  # with first-last: how many minibatches at each end
    max_batches: int = setting(0, ge=0)  # stop each epoch after this many batches (0 = all)
    # under torchrun: "on" = SyncBatchNorm (batch statistics over the global batch);
    # "off" = per-rank batch statistics, plain DDP (docs/scaling.md)
    sync_bn: str = setting("off", choices=("off", "on"), on_off=True)

    def check(self, prefix: str = "") -> None:
        b = self.periods
        if not b:
            return
        bad = len(b) < 2 or b[0] != 0 or b[-1] != self.epochs
        if bad or any(x >= y for x, y in pairwise(b)) or any(not float(x).is_integer() for x in b):
            raise UserError(
                f"{prefix}periods={list(b)} must be whole epochs increasing from 0 to "
                f"{prefix}epochs={self.epochs}, e.g. [0, {self.epochs // 2}, {self.epochs}]"
            )


@dataclass(frozen=True)
class EvalConfig:
    suite: str = setting("quick", choices=("quick", "standard", "autoattack"))
    batch_size: int = setting(500, gt=0)
    seed: int = 0
    limit: int = setting(0, ge=0)  # evaluate on a seeded subset of N test points (0 = all)
    # points of the ε = 0 sanity check: the whole suite runs there at full budget, breaking
    # nothing, so it costs more per point than the evaluation itself
    eps0_points: int = setting(64, gt=0)


@dataclass(frozen=True)
class PerfConfig:
    """Speed switches of the training loop. "auto": channels_last on everywhere, bf16
    autocast and torch.compile with CUDA only; evaluation always runs in fp32."""

    amp: str = setting("auto", choices=("auto", "off", "bf16"), on_off=True)
    channels_last: str = setting("auto", choices=("auto", "on", "off"), on_off=True)
    compile: str = setting("auto", choices=("auto", "on", "off"), on_off=True)


@dataclass(frozen=True)
class LogConfig:
    """Metric sinks beside metrics.jsonl (`advland.training.sinks`): TensorBoard event
    files under tensorboard/, and metrics.csv / dynamics.csv."""

    tensorboard: bool = False
    csv: bool = False


@dataclass(frozen=True)
class RunConfig:
    name: str = "run"
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    attack: AttackConfig = field(default_factory=lambda: AttackConfig(step_size=0.075))
    eps_schedule: EpsScheduleConfig = field(default_factory=EpsScheduleConfig)
    lr_schedule: LRScheduleConfig = field(default_factory=LRScheduleConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    perf: PerfConfig = field(default_factory=PerfConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def check(self, prefix: str = "") -> None:
        """Rules across sections (each section's own rules have run already)."""
        _validate_name(self.name)
        if self.attack.restarts != 1:
            raise UserError(
                f"attack.restarts={self.attack.restarts}: the training attack runs once per "
                "batch; set attack.restarts=1 (restarts are for evaluation and analysis)"
            )
        if self.data.val_size == 0 and self.train.val_every > 0:
            raise UserError(
                "train.val_every > 0 needs a validation split; set data.val_size > 0 or "
                "train.val_every=0"
            )


# ---------------------------------------------------------------- YAML and overrides


BUILTIN_CONFIGS = Path(__file__).parent / "configs"  # shipped inside the package


def builtin_configs() -> list[str]:
    """Names of the built-in configs (`advland train --config mnist-lenet-cosine`)."""
    return sorted(p.stem for p in BUILTIN_CONFIGS.glob("*.yaml"))


def config_path(path: str | Path) -> Path:
    """A YAML file, or the built-in config of that name (with or without `.yaml`)."""
    p = Path(path)
    if p.is_file():
        return p
    name = p.name.removesuffix(".yaml")
    builtin = BUILTIN_CONFIGS / f"{name}.yaml"
    if str(p.parent) in (".", "configs") and builtin.is_file():
        return builtin
    raise UserError(
        f"config file '{path}' not found; pass a YAML file or a built-in config name "
        f"({', '.join(builtin_configs())})"
    )


def load_yaml(path: str | Path) -> dict:
    path = config_path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(
            f"config file '{path}' is not UTF-8 text (byte {e.start}); pass a YAML file"
        ) from None
    except OSError as e:
        raise UserError(f"config file '{path}' cannot be read: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(f"config file '{path}' is not valid YAML: {str(e).splitlines()[0]}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file '{path}' must hold a mapping at the top level")
    return data


def load_run_config_dict(path: str | Path) -> dict:
    """A saved config.yaml as plain data, completed with every default (for reading)."""
    return to_dict(from_dict(RunConfig, load_yaml(path)))


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


def _validate_name(name: str) -> None:
    # The name becomes the default run folder runs/<name>: it must not leave runs/.
    bad = not name or name in (".", "..") or any(c in name for c in "/\\\0")
    if bad or name.startswith("~"):
        raise UserError(
            f"name={name!r} must be a plain folder name (no '/', '\\', '..' or '~'), "
            f"e.g. name=mnist-lenet-cosine; use --out to choose another folder"
        )
