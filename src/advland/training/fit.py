"""`advland.fit`: PGD / PAS adversarial training of any `nn.Module` on any map-style
dataset, with everything a run built from a config has.

    import advland
    summary = advland.fit(model, train_loader, "mnist-lenet-cosine", "runs/mine",
                          val_data=val_set)

`train_data` and `val_data` (and `test_data`) are map-style `Dataset`s or `DataLoader`s
over one, yielding `(x, y)` with x a C x H x W image in [0,1] (float) or 0-255 (uint8).
The training set streams through a torch DataLoader with the user's transforms, or stays
on the device for a `TensorDataset` (`data.loader` chooses; the choice is printed). The
run directory is the same as `advland train`'s: checkpoints with every RNG state, metrics,
PAS snapshots, best.pt, divergence handling, the end-of-run evaluation (on `test_data`,
else `val_data`) and summary.json.

Resume: call `fit` again with the same model (freshly built), data and config on the same
`run_dir`; it continues from the newest intact checkpoint and ends bit-identical to an
uninterrupted run (same device and thread count). Everything is checked before anything
is written: the config, the data (shapes, [0,1]) and the model's output ([N, classes]).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from advland.config import RunConfig, build_config, from_dict, to_dict, validate
from advland.data import Splits
from advland.data.splits import FIT_DATA
from advland.data.user import user_splits
from advland.device import pick_device
from advland.errors import UserError
from advland.fileio import remove_stale_temps
from advland.runs.checkpoint import Generators, load_newest_intact
from advland.runs.lock import RunLock
from advland.runs.rundir import checkpoint_dir, create_run_dir
from advland.training import records
from advland.training.loop import _run
from advland.training.setup import build_optimizer, resolve_perf
from advland.training.state import Log, Session

Callback = Callable[[dict], None]


def fit(
    model: nn.Module,
    train_data: Any,
    config: RunConfig | dict | str | Path | None,
    run_dir: str | Path,
    val_data: Any = None,
    *,
    test_data: Any = None,
    callbacks: Iterable[Callback] = (),
    log: Log = tqdm.write,
) -> dict:
    """Train `model` adversarially into `run_dir` (fresh, or resumed when it holds a run);
    returns the summary. `config`: a RunConfig, a dict of its sections, a YAML path or a
    built-in config name; its data and model sections name nothing here (the data and the
    model are given). `callbacks` receive each epoch's metrics record."""
    if not isinstance(model, nn.Module):
        raise UserError(f"model is a {type(model).__name__}; pass a torch.nn.Module")
    cfg = as_config(config)
    resident = {"auto": None, "device": True, "stream": False}[cfg.data.loader]
    splits = user_splits(train_data, val_data, test_data, name="python", resident=resident)
    device = pick_device(cfg.device)
    splits = replace(splits, num_classes=check_output(model, splits, device))
    cfg = replace(
        cfg,
        model=replace(cfg.model, name=_class_path(model), kwargs={}),
        data=replace(cfg.data, name=FIT_DATA, kwargs={}),
    )
    run_dir = Path(run_dir)
    ckpt = _existing_run(run_dir, cfg, log)
    template = copy.deepcopy(model).cpu()
    if ckpt is None:
        create_run_dir(run_dir, cfg, device)
        log(f"run directory: {run_dir} (device {device})")
    else:
        records.warn_if_environment_changed(run_dir, device, log)
    s = _session(cfg, run_dir, splits, model, device, log)
    s.make_model = lambda: copy.deepcopy(template)
    s.callbacks = list(callbacks)
    with RunLock(run_dir):  # a second process on the same run_dir stops here
        return _run(s, ckpt)


def as_config(config: RunConfig | dict | str | Path | None) -> RunConfig:
    if config is None:
        return build_config(None, [])
    if isinstance(config, RunConfig):
        validate(config)
        return config
    if isinstance(config, dict):
        cfg = from_dict(RunConfig, config)
        validate(cfg)
        return cfg
    if isinstance(config, (str, Path)):
        return build_config(config, [])
    raise UserError(f"config is a {type(config).__name__}; pass a RunConfig, a dict or a YAML path")


def check_output(model: nn.Module, splits: Splits, device: torch.device) -> int:
    """Run the model on a few training images; its output must be [N, classes] with every
    label below `classes`. Returns `classes`. The model is left as it was."""
    from advland.data.user import PROBE

    ds = splits.stream.dataset if splits.stream is not None else None
    if ds is not None:
        x = torch.stack([ds[i][0] for i in range(min(PROBE, len(ds)))])
    else:
        x = splits.train.x[:PROBE]
    x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            out = model(x.to(device))
    except Exception as e:
        raise UserError(
            f"the model fails on a batch of shape {tuple(x.shape)}: {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}"
        ) from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(
            f"the model returns {shape} for a batch of {x.shape[0]} images; it must return "
            f"logits of shape [N, classes] = [{x.shape[0]}, classes]"
        )
    classes = int(out.shape[1])
    if classes < splits.num_classes:
        raise UserError(
            f"the model returns {classes} classes but the data has label {splits.num_classes - 1}; "
            f"give the model at least {splits.num_classes} outputs"
        )
    return classes


def _class_path(model: nn.Module) -> str:
    t = type(model)
    return f"{t.__module__}:{t.__qualname__}"


def _existing_run(run_dir: Path, cfg: RunConfig, log: Log) -> dict | None:
    """The checkpoint to resume from when `run_dir` holds this run; None for a new run."""
    ck_dir = checkpoint_dir(run_dir)
    if not (run_dir / "config.yaml").is_file():
        return None  # create_run_dir refuses a non-empty folder that is not a run
    for folder in (run_dir, ck_dir):
        if folder.is_dir():
            remove_stale_temps(folder)
    ckpt = load_newest_intact(ck_dir, log) if ck_dir.is_dir() else None
    if ckpt is None:
        raise UserError(
            f"'{run_dir}' holds a run without a checkpoint; delete it or choose another run_dir"
        )
    if ckpt["config"] != to_dict(cfg):
        raise UserError(
            f"'{run_dir}' holds a run with another config; resume it with the same config or "
            "choose another run_dir"
        )
    return ckpt


def _session(
    cfg: RunConfig, run_dir: Path, splits: Splits, model: nn.Module, device, log: Log
) -> Session:
    torch.manual_seed(cfg.train.seed)  # global RNG (dropout, worker-less transforms)
    model.to(device)
    if resolve_perf(cfg, device).channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = build_optimizer(model, cfg)
    return Session(cfg, run_dir, splits, device, model, opt, Generators.seeded(cfg.train.seed), log)
