"""PGD adversarial training with ε/lr schedules and periodic adversarial scheduling (PAS).

One epoch = for every minibatch: ε_t and lr_t from the stateless schedules, PGD at ε_t
(model in eval mode by default, step size from `cfg.attack.step(ε_t)`), one optimizer step
on the adversarial batch. After every epoch: validation at the TARGET ε on the held-out
split, a metrics line, a PAS snapshot at period ends, and an atomic resumable checkpoint.

The state is carried by objects (`advland.training.state`): `Session` for a run directory,
`Trainer` for what an epoch advances, `RunState` for the progress a checkpoint saves.

Speed switches (`cfg.perf`, resolved by `setup.resolve_perf`): bf16 autocast for the attack
and the update (validation and evaluation stay fp32) and torch.compile, on by default with
CUDA only; channels_last model and batches, on by default everywhere. Under torch.compile
ε and the step size are passed as tensors and the last partial batch is dropped (static
shapes). With every switch off a step is the plain eager computation.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from advland import distributed
from advland.attacks import Threat, pgd
from advland.config import RunConfig, to_dict
from advland.data import Splits, load_splits
from advland.data.stream import to_unit, train_loader
from advland.device import pick_device
from advland.errors import UserError
from advland.evaluation.report import evaluate_run_models, failed_errors, summary_fields
from advland.evaluation.robust import robust_evaluate
from advland.fileio import append_jsonl, atomic_write_json, remove_stale_temps
from advland.runs.checkpoint import (
    Generators,
    load_file,
    load_newest_intact,
    save_checkpoint,
    save_weights,
)
from advland.runs.lock import RunLock
from advland.runs.model import build_run_model, check_logits_shape
from advland.runs.rundir import checkpoint_dir, create_run_dir, load_run_config, require_run_dir
from advland.training import records
from advland.training.dynamics import DynamicsRecorder
from advland.training.own_eval import own_model_evaluation
from advland.training.setup import (
    CPU_PERF,
    Perf,
    build_optimizer,
    eps_schedule,
    lr_schedule,
    resolve_perf,
    snapshot_epochs,
)
from advland.training.sinks import Sinks
from advland.training.state import Log, RunState, Session, Trainer


def train(cfg: RunConfig, run_dir: str | Path, *, log: Log = tqdm.write) -> dict:
    """Train a fresh run into `run_dir`; returns the summary (also in summary.json)."""
    run_dir = Path(run_dir)
    device = distributed.device(pick_device(cfg.device))
    check_world(cfg, device)
    log = main_log(log)
    splits = load_splits(cfg.data)  # data and model errors surface before anything is written
    check_logits_shape(build_run_model(cfg, splits, torch.device("meta")), splits)
    if distributed.is_main():
        create_run_dir(run_dir, cfg, device)
    distributed.barrier()
    log(f"run directory: {run_dir} (device {device}{_world_note()})")
    with run_lock(run_dir):
        return _run(_session(cfg, run_dir, splits, device, log), None)


def resume(run_dir: str | Path, *, log: Log = tqdm.write) -> dict:
    """Continue a run from its newest intact checkpoint (latest.pt, else previous.pt).

    Bit-identical to an uninterrupted run on the same device and thread count."""
    run_dir = require_run_dir(run_dir)
    cfg = load_run_config(run_dir)
    check_world(cfg, distributed.device(pick_device(cfg.device)))
    log = main_log(log)
    with run_lock(run_dir):
        ckpt = _load_checkpoint(run_dir, log)
        device = distributed.device(pick_device(cfg.device))
        records.warn_if_environment_changed(run_dir, device, log)
        splits = load_splits(cfg.data)
        return _run(_session(cfg, run_dir, splits, device, log), ckpt)


def _load_checkpoint(run_dir: Path, log: Log) -> dict | None:
    """The newest intact checkpoint. Under torchrun rank 0 first cleans up (orphaned
    temporary files; a corrupt latest.pt is set aside), then the other ranks read the
    same file."""
    main, ckpt = distributed.is_main(), None
    if main:
        for folder in (run_dir, checkpoint_dir(run_dir)):  # orphaned by a crash
            remove_stale_temps(folder)
        ckpt = load_newest_intact(checkpoint_dir(run_dir), log)
    distributed.barrier()
    return ckpt if ckpt is not None else load_newest_intact(checkpoint_dir(run_dir), log)


def check_world(cfg: RunConfig, device: torch.device) -> None:
    """Under torchrun the global batch must split evenly over the ranks, and SyncBatchNorm
    (train.sync_bn) needs GPUs (torch implements it for GPU tensors only)."""
    world = distributed.world_size()
    if cfg.train.batch_size % world:
        raise UserError(
            f"train.batch_size={cfg.train.batch_size} is not divisible by the {world} "
            f"processes; set train.batch_size to a multiple of {world} (it is the global batch)"
        )
    if cfg.train.sync_bn == "on" and world > 1 and device.type != "cuda":
        raise UserError(
            f"train.sync_bn=on needs CUDA devices (SyncBatchNorm), but the run uses {device}; "
            "set train.sync_bn=off on CPUs"
        )


def main_log(log: Log) -> Log:
    """`log` on the main process; messages of the other ranks are dropped."""
    return log if distributed.is_main() else _silent


def _silent(message: str) -> None:
    return None


def run_lock(run_dir: Path) -> contextlib.AbstractContextManager:
    """The run directory's exclusive lock, taken by the main process only (the ranks of
    one torchrun job must not block each other)."""
    return RunLock(run_dir) if distributed.is_main() else contextlib.nullcontext()


def _world_note() -> str:
    w = distributed.world_size()
    return f", {w} processes, global batch split over them" if w > 1 else ""


def _bars_off() -> bool | None:
    """tqdm's `disable`: automatic on the main process, always off on the other ranks."""
    return None if distributed.is_main() else True


def _session(cfg: RunConfig, run_dir: Path, splits: Splits, device, log: Log) -> Session:
    """Model (seeded initialisation, replayed identically on resume), optimizer, streams."""
    torch.manual_seed(cfg.train.seed)
    model = build_run_model(cfg, splits, device)
    if cfg.train.sync_bn == "on" and distributed.active():
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if resolve_perf(cfg, device).channels_last:
        # before the optimizer state exists (torch's stubs omit Module.to(memory_format=))
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = build_optimizer(model, cfg)
    gens = Generators.seeded(cfg.train.seed)
    return Session(cfg, run_dir, splits, device, model, opt, gens, log)


def _run(s: Session, ckpt: dict | None) -> dict:
    """Start or restore, train the remaining epochs, evaluate, write summary.json."""
    cfg, main = s.cfg, distributed.is_main()
    if ckpt is None:
        if main:  # θ0, for ‖θ − θ0‖
            save_weights(s.checkpoints / "init.pt", s.model, 0, to_dict(cfg))
    else:
        _restore(s, ckpt)
    if main:
        records.truncate_logs(s.run_dir, s.state.epoch)
    distributed.barrier()  # init.pt is written before any rank reads it
    if s.state.epoch < cfg.train.epochs:
        diverged = _train_epochs(s, _trainer(s))
        if diverged:
            summary = {"status": "diverged", "cause": diverged, **records.state_info(s.state)}
            return _write_summary(s, summary)
    evaluation = _evaluate(s)
    if evaluation is None:
        s.log("no test or validation data: the final evaluation is skipped")
        summary = {"status": "completed", "name": cfg.name, **records.state_info(s.state)}
        return _write_summary(s, summary)
    if main:
        atomic_write_json(s.run_dir / f"eval-{cfg.eval.suite}.json", evaluation)
    failed = failed_errors(evaluation)
    summary = {
        "status": "completed" if not failed else "sanity-failed",
        "name": cfg.name,
        **summary_fields(evaluation, cfg.eval.suite),
        **records.state_info(s.state),
        "failed_checks": failed,
    }
    return _write_summary(s, summary)


def _write_summary(s: Session, summary: dict) -> dict:
    """summary.json, written by the main process; every rank returns the summary."""
    return records.write_summary(s.run_dir, summary) if distributed.is_main() else summary


def _evaluate(s: Session) -> dict | None:
    """The end-of-run evaluation: the final model, PAS members and their ensemble."""
    suite = s.cfg.eval.suite
    if s.make_model is None:
        return evaluate_run_models(
            s.cfg,
            s.run_dir,
            s.splits,
            s.model,
            snapshots=s.state.snapshots,
            suite=suite,
            device=s.device,
            log=s.log,
        )
    return own_model_evaluation(s, suite)


def _restore(s: Session, ckpt: dict) -> None:
    s.model.load_state_dict(ckpt["model"])
    s.opt.load_state_dict(ckpt["optimizer"])
    s.gens.restore(ckpt["rng"])
    s.state = RunState(ckpt["epoch"], list(ckpt["snapshots"]), **ckpt["extra"])
    s.log(f"resuming {s.run_dir} after epoch {s.state.epoch}/{s.cfg.train.epochs}")


def _trainer(s: Session) -> Trainer:
    """The epoch machinery for this session: loader, compiled network, schedules, recorder."""
    cfg, tc = s.cfg, s.cfg.train
    perf = resolve_perf(cfg, s.device)
    loader, choice = train_loader(
        s.splits,
        cfg.data.loader,
        tc.batch_size,
        device=s.device,
        generator=s.gens.data,
        workers=cfg.data.workers,
        drop_last=perf.compile,  # static shapes: no recompile for a smaller last batch
    )
    s.log(choice)
    # the compiled wrapper shares `model`'s parameters
    net = cast(nn.Module, torch.compile(s.model)) if perf.compile else s.model
    nb = min(len(loader), tc.max_batches) if tc.max_batches else len(loader)
    recorder = DynamicsRecorder(s.model, _theta0(s), tc.dynamics, tc.dynamics_n, nb * tc.epochs)
    trainer = Trainer(
        cfg, net, s.opt, loader, nb, eps_schedule(cfg), lr_schedule(cfg), s.gens, recorder, perf
    )
    if distributed.active():
        trainer.attack_net, trainer.net = net, _data_parallel(s.model, s.device, perf)
    return trainer


def _data_parallel(model: nn.Module, device: torch.device, perf: Perf) -> nn.Module:
    """`model` in DistributedDataParallel: the update's backward averages the gradients
    over the ranks. Buffers (BatchNorm running statistics) are broadcast from rank 0 at
    every update forward, DDP's default, so every rank holds the same model."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device] if device.type == "cuda" else None
    ddp = DistributedDataParallel(model, device_ids=ids)
    return cast(nn.Module, torch.compile(ddp)) if perf.compile else ddp


def _train_epochs(s: Session, trainer: Trainer) -> str | None:
    """Run the remaining epochs; returns a divergence cause, or None."""
    epochs = s.cfg.train.epochs
    if distributed.is_main():
        s.sinks = Sinks(s.cfg.log, s.run_dir, s.state.epoch, s.state.epoch * trainer.batches)
    bar = tqdm(
        total=epochs, initial=s.state.epoch, desc="training", unit="epoch", disable=_bars_off()
    )
    try:
        for epoch in range(s.state.epoch, epochs):
            cause = _epoch(s, trainer, epoch)
            if cause:
                return cause
            bar.update(1)
    finally:
        bar.close()
        if s.sinks is not None:
            s.sinks.close()
    return None


def _epoch(s: Session, trainer: Trainer, epoch: int) -> str | None:
    """Train one epoch, then validate, save snapshots and the checkpoint, log the metrics.

    Returns a divergence cause (nothing of the epoch is saved then), or None."""
    cfg, st = s.cfg, s.state
    t0 = time.perf_counter()
    loss, err = train_one_epoch(trainer, epoch)
    if not (math.isfinite(loss) and _weights_finite(s.model)):
        cause = f"non-finite training loss or weights in epoch {epoch + 1}"
        s.log(f"DIVERGED: {cause}; last good checkpoint: {s.checkpoints / 'latest.pt'}")
        return cause
    val = _validate(cfg, s.model, s.splits, s.device, epoch) if _val_due(cfg.train, epoch) else {}
    st.epoch, st.elapsed = epoch + 1, st.elapsed + time.perf_counter() - t0
    _save_weights_due(s, val)
    dyn = trainer.recorder.flush(st.epoch) if trainer.recorder is not None else []
    record = records.epoch_record(trainer, st, epoch, loss=loss, err=err, val=val, t0=t0)
    if distributed.is_main():
        _write_epoch(s, record, dyn)
    s.log(records.log_line(record, cfg.train.epochs))
    if s.sinks is not None:
        s.sinks.epoch(record, dyn)
    for callback in s.callbacks:
        callback(dict(record))
    return None


def _write_epoch(s: Session, record: dict, dyn: list[dict]) -> None:
    """The epoch's log lines and the resumable checkpoint (main process only)."""
    cfg, st = s.cfg, s.state
    for row in dyn:
        append_jsonl(s.run_dir / "dynamics.jsonl", row)
    append_jsonl(s.run_dir / "metrics.jsonl", record)
    save_checkpoint(
        s.checkpoints / "latest.pt",
        model=s.model,
        optimizer=s.opt,
        epoch=st.epoch,
        gens=s.gens,
        snapshots=st.snapshots,
        config=to_dict(cfg),
        extra=records.checkpoint_extra(st),
    )


def _save_weights_due(s: Session, val: dict) -> None:
    """The PAS snapshot when a period ends, and best.pt on a new best validation error."""
    st, snap_at, main = s.state, snapshot_epochs(s.cfg), distributed.is_main()
    if st.epoch in snap_at:
        name = f"snapshot-{snap_at.index(st.epoch)}.pt"
        if main:
            save_weights(s.checkpoints / name, s.model, st.epoch, to_dict(s.cfg))
        st.snapshots.append(name)
    if val and val["val_robust_error"] < st.best_val:
        st.best_val, st.best_epoch = val["val_robust_error"], st.epoch
        if main:
            save_weights(s.checkpoints / "best.pt", s.model, st.epoch, to_dict(s.cfg))


def train_one_epoch(trainer: Trainer, epoch: int) -> tuple[float, float]:
    """One pass of PGD adversarial training; returns (mean loss, error %) on adversarial batches."""
    t = trainer
    nb, per_batch = t.batches, t.cfg.train.update == "batch"
    device = next(t.net.parameters()).device
    loss_sum = torch.zeros((), device=device)
    err_sum = torch.zeros((), device=device)
    seen = 0
    bar = tqdm(
        total=nb,
        desc=f"epoch {epoch + 1}",
        leave=False,
        disable=_bars_off(),
        unit="batch",
        position=1,
    )
    for b, (x, y) in enumerate(t.loader):
        if b >= nb:
            break
        # under torchrun: this rank's contiguous share of the global batch
        rows = distributed.shard(y.shape[0]) if distributed.active() else None
        if rows is not None:
            x, y = rows.take(x), rows.take(y)
        time_t = epoch + b / nb if per_batch else float(epoch)
        eps_t, lr_t = t.eps_at(time_t), t.lr_at(time_t)
        for group in t.opt.param_groups:
            group["lr"] = lr_t
        loss, logits = train_step(
            t.cfg,
            t.net,
            t.opt,
            x,
            y,
            eps_t,
            gens=t.gens,
            perf=t.perf,
            recorder=t.recorder,
            step_idx=epoch * nb + b,
            rows=rows,
            attack_model=t.attack_net,
        )
        loss_sum += loss * y.shape[0]
        err_sum += (logits.argmax(dim=1) != y).sum()
        seen += y.shape[0]
        bar.update(1)
    bar.close()
    # one host sync per epoch
    totals = torch.stack([loss_sum, err_sum.float()])
    if distributed.active():  # sums over the whole global batches
        totals = torch.cat([totals, torch.tensor([float(seen)], device=device)])
        distributed.all_reduce_sum([totals])
        seen = int(totals[2].item())
    loss_total, err_total = totals[:2].tolist()
    return loss_total / max(seen, 1), 100.0 * err_total / max(seen, 1)


def train_step(
    cfg: RunConfig,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_t: float,
    *,
    gens: Generators,
    perf: Perf = CPU_PERF,
    recorder: DynamicsRecorder | None = None,
    step_idx: int = 0,
    rows: distributed.Shard | None = None,
    attack_model: nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PGD at ε_t (skipped at ε_t = 0), then one optimizer step on the adversarial batch.

    The attack is `cfg.attack` at budget ε_t, with its step from `AttackConfig.step(ε_t)`.
    Returns (mean loss, logits), detached; no host-device sync. The attack freezes the
    parameters, so its k iterations cost k × (forward + input gradient) and nothing more.

    Data parallel (torchrun): (x, y) are this rank's `rows` of the global batch, `model` is
    the DDP wrapper and `attack_model` the module inside it. The random start is this
    rank's rows of the global batch's start, and the loss is weighted so that DDP's mean
    over ranks is the mean over the global batch (with equal shards the weight is 1).
    """
    a = cfg.attack
    x = perf.batch(x)
    with perf.autocast(x.device):  # bf16 attack and update when perf.amp is on
        x_in = x
        if eps_t > 0:
            eps, step = _scalar(eps_t, x, perf), _scalar(a.step(eps_t), x, perf)
            x_in = pgd(
                attack_model or model,
                x,
                y,
                Threat(norm=a.norm, eps=eps),
                steps=a.steps,
                step_size=step,
                random_start=a.random_start,
                generator=gens.attack,
                model_mode=a.model_mode,
                rows=rows,
            )
        model.train()
        logits = model(x_in)
        loss = F.cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    _shard_weighted(loss, logits, rows).backward()
    if recorder is not None and recorder.wants(step_idx):
        recorder.record(step_idx, logits.detach(), y)
    opt.step()
    return loss.detach(), logits.detach()


def _shard_weighted(
    loss: torch.Tensor, logits: torch.Tensor, rows: distributed.Shard | None
) -> torch.Tensor:
    """The loss to differentiate: `loss` itself, or for a rank's unequal share of a global
    batch (a last partial batch) loss · size·W/total, so that DDP's average over the W
    ranks is the global batch mean; an empty share contributes zero."""
    if rows is None:
        return loss
    world = distributed.world_size()
    if rows.size == 0:
        return logits.sum() * 0.0
    if rows.size * world == rows.total:
        return loss
    return loss * (rows.size * world / rows.total)


def _scalar(value: float, like: torch.Tensor, perf: Perf) -> float | torch.Tensor:
    """ε or step as a 0-dim device tensor under torch.compile (a changing ε schedule then
    changes a tensor's value, not a constant baked into the graph: no recompiles)."""
    return torch.full((), value, device=like.device) if perf.compile else value


def _validate(cfg: RunConfig, model, splits: Splits, device, epoch: int) -> dict:
    """Clean and PGD robust error at the TARGET ε on the validation split (not the test set)."""
    a = cfg.attack
    steps = cfg.train.val_steps or a.steps
    if len(splits.val) == 0:
        return {}
    if a.eps <= 0:
        res = robust_evaluate(model, splits.val.x, splits.val.y, eps=0.0, device=device)
        return {"val_clean_error": res.clean_error, "val_robust_error": res.robust_error}
    gen = torch.Generator().manual_seed(cfg.train.seed * 7919 + epoch)  # training RNG untouched
    x, y = splits.val.x, splits.val.y
    model.eval()
    wrong_clean = wrong_adv = 0
    for i in range(0, x.shape[0], cfg.eval.batch_size):
        # under torchrun each rank attacks its rows of every batch, from the same starts
        rows = (
            distributed.shard(len(y[i : i + cfg.eval.batch_size])) if distributed.active() else None
        )
        window = (
            slice(i, i + cfg.eval.batch_size)
            if rows is None
            else slice(i + rows.start, i + rows.stop)
        )
        xb = to_unit(x[window].to(device))
        yb = y[window].to(device)
        x_adv = pgd(
            model,
            xb,
            yb,
            Threat(norm=a.norm, eps=a.eps),
            steps=steps,
            step_size=a.step(),
            random_start=a.random_start,
            generator=gen,
            rows=rows,
        )
        with torch.no_grad():
            wrong_clean += (model(xb).argmax(1) != yb).sum().item()
            wrong_adv += (model(x_adv).argmax(1) != yb).sum().item()
    if distributed.active():
        counts = torch.tensor([wrong_clean, wrong_adv], dtype=torch.float64, device=device)
        distributed.all_reduce_sum([counts])
        wrong_clean, wrong_adv = (int(c) for c in counts.tolist())
    n = max(x.shape[0], 1)
    return {"val_clean_error": 100.0 * wrong_clean / n, "val_robust_error": 100.0 * wrong_adv / n}


def _weights_finite(model: nn.Module) -> bool:
    norms = torch._foreach_norm([p.detach() for p in model.parameters()])
    return bool(torch.isfinite(torch.stack(norms)).all())  # host sync, once per epoch


def _val_due(tc, epoch: int) -> bool:
    return tc.val_every > 0 and ((epoch + 1) % tc.val_every == 0 or epoch + 1 == tc.epochs)


def _theta0(s: Session) -> list[torch.Tensor]:
    """θ0 from init.pt, for the ‖θ − θ0‖ dynamics (nothing when dynamics are off)."""
    if s.cfg.train.dynamics == "off":
        return []
    obj = load_file(s.checkpoints / "init.pt", map_location=next(s.model.parameters()).device)
    names = [n for n, p in s.model.named_parameters() if p.requires_grad]
    return [obj["model"][n] for n in names]
