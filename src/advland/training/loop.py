"""PGD adversarial training with ε/lr schedules and periodic adversarial scheduling (PAS).

One epoch = for every minibatch: ε_t and lr_t from the stateless schedules, PGD at ε_t
(model in eval mode by default, step size scaled with ε_t), one optimizer step on the
adversarial batch. After every epoch: validation at the TARGET ε on the held-out split,
a metrics line, a PAS snapshot at period ends, and an atomic resumable checkpoint.

Speed switches (`cfg.perf`, resolved by `setup.resolve_perf`; on by default with CUDA only):
bf16 autocast for the attack and the update (validation and evaluation stay fp32),
channels_last model and batches, torch.compile with ε and step size passed as tensors and
the last partial batch dropped (static shapes). With all off (the CPU default) a step is
exactly the plain eager computation, so earlier runs are reproduced bit for bit.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from advland.attacks import Threat, pgd
from advland.config import RunConfig, to_dict
from advland.data import DeviceLoader, Splits, load_splits
from advland.device import pick_device
from advland.evaluation.report import evaluate_run_models, failed_errors, summary_fields
from advland.evaluation.robust import robust_evaluate
from advland.fileio import (
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    read_jsonl,
    remove_stale_temps,
)
from advland.runs.checkpoint import (
    Generators,
    load_file,
    load_newest_intact,
    save_checkpoint,
    save_weights,
)
from advland.runs.model import build_run_model
from advland.runs.rundir import checkpoint_dir, create_run_dir, load_run_config, require_run_dir
from advland.schedules import period_index
from advland.training.dynamics import DynamicsRecorder
from advland.training.setup import (
    Perf,
    build_optimizer,
    eps_schedule,
    lr_schedule,
    resolve_perf,
    snapshot_epochs,
)

Log = Callable[[str], None]
CPU_PERF = Perf()  # every speed switch off: the CPU default


@dataclass
class RunState:
    """What changes during a run (everything else is derived from the config)."""

    epoch: int = 0  # completed epochs
    snapshots: list[str] = field(default_factory=list)
    best_val: float = math.inf
    best_epoch: int = 0
    elapsed: float = 0.0  # training seconds over all sessions of this run


def train(cfg: RunConfig, run_dir: str | Path, *, log: Log = tqdm.write) -> dict:
    """Train a fresh run into `run_dir`; returns the summary (also in summary.json)."""
    run_dir = Path(run_dir)
    device = pick_device(cfg.device)
    splits = load_splits(cfg.data)  # data and model errors surface before anything is written
    build_run_model(cfg, splits, torch.device("meta"))
    create_run_dir(run_dir, cfg, device)
    log(f"run directory: {run_dir} (device {device})")
    return _run(cfg, run_dir, splits, device, None, log)


def resume(run_dir: str | Path, *, log: Log = tqdm.write) -> dict:
    """Continue a run from its newest intact checkpoint (latest.pt, else previous.pt).

    Bit-identical to an uninterrupted run on the same device and thread count."""
    run_dir = require_run_dir(run_dir)
    cfg = load_run_config(run_dir)
    for folder in (run_dir, checkpoint_dir(run_dir)):  # temp files orphaned by a crash
        remove_stale_temps(folder)
    state = load_newest_intact(checkpoint_dir(run_dir), log)
    device = pick_device(cfg.device)
    _warn_if_environment_changed(run_dir, device, log)
    splits = load_splits(cfg.data)
    return _run(cfg, run_dir, splits, device, state, log)


def _warn_if_environment_changed(run_dir: Path, device, log: Log) -> None:
    """Bit-exact resume needs the same device and thread count (reduction order)."""
    try:
        env = json.loads((run_dir / "env.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    now = {"device": str(device), "threads": torch.get_num_threads()}
    changed = {k: (env.get(k), v) for k, v in now.items() if env.get(k) != v}
    if changed:
        what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
        log(
            f"note: resuming with {what}; results will match an uninterrupted run only approximately"
        )


def _run(
    cfg: RunConfig, run_dir: Path, splits: Splits, device, ckpt: dict | None, log: Log
) -> dict:
    torch.manual_seed(cfg.train.seed)  # model initialisation; replayed identically on resume
    model = build_run_model(cfg, splits, device)
    if resolve_perf(cfg, device).channels_last:
        model = model.to(memory_format=torch.channels_last)  # before the optimizer state exists
    opt = build_optimizer(model, cfg)
    gens = Generators.seeded(cfg.train.seed)
    ck = checkpoint_dir(run_dir)
    cfg_dict = to_dict(cfg)
    st = RunState()
    if ckpt is None:
        save_weights(ck / "init.pt", model, 0, cfg_dict)  # θ0, for ‖θ − θ0‖
    else:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        gens.restore(ckpt["rng"])
        st = RunState(ckpt["epoch"], list(ckpt["snapshots"]), **ckpt["extra"])
        log(f"resuming {run_dir} after epoch {st.epoch}/{cfg.train.epochs}")
    _truncate_logs(run_dir, st.epoch)

    if st.epoch < cfg.train.epochs:
        diverged = _train_epochs(cfg, run_dir, splits, device, model, opt, gens, st, log)
        if diverged:
            return _write_summary(
                run_dir, {"status": "diverged", "cause": diverged, **_state_info(st)}
            )
    evaluation = evaluate_run_models(
        cfg, run_dir, splits, model, st.snapshots, cfg.eval.suite, device, log
    )
    atomic_write_json(run_dir / f"eval-{cfg.eval.suite}.json", evaluation)
    failed = failed_errors(evaluation)
    summary = {
        "status": "completed" if not failed else "sanity-failed",
        "name": cfg.name,
        **summary_fields(evaluation, cfg.eval.suite),
        **_state_info(st),
        "failed_checks": failed,
    }
    return _write_summary(run_dir, summary)


def _train_epochs(
    cfg, run_dir, splits, device, model, opt, gens, st: RunState, log: Log
) -> str | None:
    """Run the remaining epochs; returns a divergence cause, or None."""
    tc = cfg.train
    eps_at, lr_at = eps_schedule(cfg), lr_schedule(cfg)
    perf = resolve_perf(cfg, device)
    loader = DeviceLoader(
        splits.train,
        tc.batch_size,
        device=device,
        shuffle=True,
        generator=gens.data,
        augment=splits.augment,
        drop_last=perf.compile,  # static shapes: no recompile for a smaller last batch
    )
    net = torch.compile(model) if perf.compile else model  # same parameters as `model`
    nb = min(len(loader), tc.max_batches) if tc.max_batches else len(loader)
    recorder = DynamicsRecorder(
        model, _theta0(cfg, run_dir, model), tc.dynamics, tc.dynamics_n, nb * tc.epochs
    )
    snap_at = snapshot_epochs(cfg)
    ck = checkpoint_dir(run_dir)
    bar = tqdm(total=tc.epochs, initial=st.epoch, desc="training", unit="epoch", disable=None)
    for epoch in range(st.epoch, tc.epochs):
        t0 = time.perf_counter()
        loss, err = train_one_epoch(
            cfg, net, opt, loader, epoch, nb, eps_at, lr_at, gens, recorder, perf
        )
        if not (math.isfinite(loss) and _weights_finite(model)):
            cause = f"non-finite training loss or weights in epoch {epoch + 1}"
            log(f"DIVERGED: {cause}; last good checkpoint: {ck / 'latest.pt'}")
            bar.close()
            return cause
        val = _validate(cfg, model, splits, device, epoch) if _val_due(tc, epoch) else {}
        st.epoch, st.elapsed = epoch + 1, st.elapsed + time.perf_counter() - t0
        if st.epoch in snap_at:
            name = f"snapshot-{snap_at.index(st.epoch)}.pt"
            save_weights(ck / name, model, st.epoch, to_dict(cfg))
            st.snapshots.append(name)
        if val and val["val_robust_error"] < st.best_val:
            st.best_val, st.best_epoch = val["val_robust_error"], st.epoch
            save_weights(ck / "best.pt", model, st.epoch, to_dict(cfg))
        dyn = recorder.flush(st.epoch)
        record = _metrics(cfg, st, epoch, eps_at, lr_at, loss, err, val, nb, loader.batch_size, t0)
        for row in dyn:
            append_jsonl(run_dir / "dynamics.jsonl", row)
        append_jsonl(run_dir / "metrics.jsonl", record)
        save_checkpoint(
            ck / "latest.pt",
            model=model,
            optimizer=opt,
            epoch=st.epoch,
            gens=gens,
            snapshots=st.snapshots,
            config=to_dict(cfg),
            extra=_extra(st),
        )
        log(_log_line(record, tc.epochs))
        bar.update(1)
    bar.close()
    return None


def train_one_epoch(
    cfg,
    model: nn.Module,
    opt,
    loader,
    epoch: int,
    nb: int,
    eps_at,
    lr_at,
    gens,
    recorder,
    perf: Perf = CPU_PERF,
):
    """One pass of PGD adversarial training; returns (mean loss, error %) on adversarial batches."""
    tc = cfg.train
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    err_sum = torch.zeros((), device=device)
    seen = 0
    bar = tqdm(
        total=nb, desc=f"epoch {epoch + 1}", leave=False, disable=None, unit="batch", position=1
    )
    for b, (x, y) in enumerate(loader):
        if b >= nb:
            break
        t = epoch + b / nb if tc.update == "batch" else float(epoch)
        eps_t, lr_t = eps_at(t), lr_at(t)
        for group in opt.param_groups:
            group["lr"] = lr_t
        step_idx = epoch * nb + b
        loss, logits = train_step(
            cfg, model, opt, x, y, eps_t, gens, perf=perf, recorder=recorder, step_idx=step_idx
        )
        loss_sum += loss * y.shape[0]
        err_sum += (logits.argmax(dim=1) != y).sum()
        seen += y.shape[0]
        bar.update(1)
    bar.close()
    loss_total, err_total = torch.stack(
        [loss_sum, err_sum.float()]
    ).tolist()  # host sync, once per epoch
    return loss_total / max(seen, 1), 100.0 * err_total / max(seen, 1)


def train_step(
    cfg,
    model: nn.Module,
    opt,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_t: float,
    gens,
    *,
    perf: Perf = CPU_PERF,
    recorder=None,
    step_idx: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PGD at ε_t (skipped at ε_t = 0), then one optimizer step on the adversarial batch.

    Returns (mean loss, logits), detached; no host-device sync. The attack freezes the
    parameters, so its k iterations cost k × (forward + input gradient) and nothing more.
    """
    a = cfg.attack
    x = perf.batch(x)
    with perf.autocast(x.device):  # bf16 attack and update when perf.amp is on
        x_in = x
        if eps_t > 0:
            # Reference semantics: step/ε constant while the schedule moves ε.
            step = a.step_size * eps_t / a.eps if a.step_scaling == "relative" else a.step_size
            eps, step = _scalar(eps_t, x, perf), _scalar(step, x, perf)
            x_in = pgd(
                model,
                x,
                y,
                Threat(norm=a.norm, eps=eps),
                steps=a.steps,
                step_size=step,
                random_start=a.random_start,
                generator=gens.attack,
                model_mode=a.model_mode,
            )
        model.train()
        logits = model(x_in)
        loss = F.cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if recorder is not None and recorder.wants(step_idx):
        recorder.record(step_idx, logits.detach(), y)
    opt.step()
    return loss.detach(), logits.detach()


def _scalar(value: float, like: torch.Tensor, perf: Perf) -> float | torch.Tensor:
    """ε or step as a 0-dim device tensor under torch.compile (a changing ε schedule then
    changes a tensor's value, not a constant baked into the graph: no recompiles)."""
    return torch.full((), value, device=like.device) if perf.compile else value


def _validate(cfg: RunConfig, model, splits: Splits, device, epoch: int) -> dict:
    """Clean and PGD robust error at the TARGET ε on the validation split (not the test set)."""
    a = cfg.attack
    steps = cfg.train.val_steps or a.steps
    if a.eps <= 0:
        res = robust_evaluate(model, splits.val.x, splits.val.y, eps=0.0, device=device)
        return {"val_clean_error": res.clean_error, "val_robust_error": res.robust_error}
    gen = torch.Generator().manual_seed(
        cfg.train.seed * 7919 + epoch
    )  # own stream: training RNG untouched
    x, y = splits.val.x, splits.val.y
    model.eval()
    wrong_clean = wrong_adv = 0
    for i in range(0, x.shape[0], cfg.eval.batch_size):
        xb = x[i : i + cfg.eval.batch_size].to(device).float().div_(255.0)
        yb = y[i : i + cfg.eval.batch_size].to(device)
        x_adv = pgd(
            model,
            xb,
            yb,
            Threat(norm=a.norm, eps=a.eps),
            steps=steps,
            step_size=a.step_size,
            random_start=a.random_start,
            generator=gen,
        )
        with torch.no_grad():
            wrong_clean += (model(xb).argmax(1) != yb).sum().item()
            wrong_adv += (model(x_adv).argmax(1) != yb).sum().item()
    n = max(x.shape[0], 1)
    return {"val_clean_error": 100.0 * wrong_clean / n, "val_robust_error": 100.0 * wrong_adv / n}


def _weights_finite(model: nn.Module) -> bool:
    norms = torch._foreach_norm([p.detach() for p in model.parameters()])
    return bool(torch.isfinite(torch.stack(norms)).all())  # host sync, once per epoch


def _val_due(tc, epoch: int) -> bool:
    return tc.val_every > 0 and ((epoch + 1) % tc.val_every == 0 or epoch + 1 == tc.epochs)


def _metrics(cfg, st: RunState, epoch, eps_at, lr_at, loss, err, val, nb, bs, t0) -> dict:
    seconds = time.perf_counter() - t0
    per_epoch = st.elapsed / max(st.epoch, 1)
    periods = cfg.train.periods
    return {
        "epoch": st.epoch,
        "period": period_index(periods, float(epoch)) if periods else 0,
        "lr": lr_at(float(epoch)),
        "eps": eps_at(float(epoch)),
        "train_loss": loss,
        "train_error": err,
        **val,
        "images_per_s": nb * bs / seconds if seconds > 0 else 0.0,
        "epoch_s": seconds,
        "elapsed_s": st.elapsed,
        "eta_s": per_epoch * (cfg.train.epochs - st.epoch),
    }


def _log_line(r: dict, epochs: int) -> str:
    val = ""
    if "val_clean_error" in r:
        val = f" | val clean {r['val_clean_error']:5.2f}% robust {r['val_robust_error']:5.2f}%"
    return (
        f"epoch {r['epoch']:>3}/{epochs} | lr {r['lr']:.2e} eps {r['eps']:.4f} | "
        f"train loss {r['train_loss']:.4f} err {r['train_error']:5.2f}%{val} | "
        f"{r['images_per_s']:.0f} img/s | elapsed {r['elapsed_s']:.0f}s ETA {r['eta_s']:.0f}s"
    )


def _theta0(cfg, run_dir: Path, model: nn.Module) -> list[torch.Tensor]:
    if cfg.train.dynamics == "off":
        return []
    obj = load_file(
        checkpoint_dir(run_dir) / "init.pt", map_location=next(model.parameters()).device
    )
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    return [obj["model"][n] for n in names]


def _truncate_logs(run_dir: Path, epoch: int) -> None:
    """Drop log lines past the checkpoint so a resumed run logs every epoch exactly once."""
    for name in ("metrics.jsonl", "dynamics.jsonl"):
        path = run_dir / name
        if path.exists():
            keep = [r for r in read_jsonl(path) if r["epoch"] <= epoch]
            atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def _extra(st: RunState) -> dict:
    return {"best_val": st.best_val, "best_epoch": st.best_epoch, "elapsed": st.elapsed}


def _state_info(st: RunState) -> dict:
    return {
        "epochs_completed": st.epoch,
        "best_epoch": st.best_epoch,
        "best_val_robust_error": st.best_val if math.isfinite(st.best_val) else None,
        "train_seconds": st.elapsed,
    }


def _write_summary(run_dir: Path, summary: dict) -> dict:
    atomic_write_json(run_dir / "summary.json", summary)
    return summary
