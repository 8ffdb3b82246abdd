"""Adversarial loss surfaces L_ε(θ + a1·v1 + a2·v2) (paper appendix C.2.2, Fig. 12).

PGD is redone at every grid point (BatchNorm in eval mode, running statistics untouched),
so the surface shows the adversarial loss itself, not the clean loss at fixed examples.
Directions are the top Hessian eigenvectors (given, normalised to unit norm) or
filter-normalised random directions (Li et al. 2018; 1-D parameters zeroed or kept).

Grid points are independent, so P of them run as ONE batched computation. "grouped" (the
default on every model built from Conv2d/Linear/BatchNorm and per-channel layers) runs the
P parameter sets as one network with P× the channels, in channels_last
(`advland.analysis.landscape.grouped`); "vmap" vmaps `torch.func.functional_call` over the stacked
parameter sets, PGD's input gradient coming from `torch.func.grad`. Both use the same
ascent step as `advland.attacks.pgd` (`Threat.ascent`/`project`, same random start,
restarts kept by `keep_worst`), so they agree with the one-point-at-a-time path, which
calls `pgd` itself on a model copy. "auto" tries grouped, then vmap, then the loop, each
when the one before cannot handle the model. The paths live in
`advland.analysis.landscape.surface_eval`.

Randomness: the random start for data batch b at budget index e comes from a generator
seeded with SeedSequence([seed, e, b]), shared by all grid points (common random numbers),
so each point's value is a deterministic function of θ, independent of batching and of
resuming. With `reuse_attack_block` = k > 1 the adversarial examples are computed once per
k×k block of neighbouring points, at the block centre, and reused for the block (faster,
approximate; default 1 = off).

Resume: after every batch of points the grid, the "done" mask, the directions and the
config are saved as a stage of the job runner (`advland.analysis.runner`: `surface.npz`,
atomic and checksummed); a later call with the same config, model, data and directions
(checked by a fingerprint) skips the finished points.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from advland import distributed
from advland.analysis.landscape.grouped import NotGroupable
from advland.analysis.landscape.surface_eval import DataBatch, PointEvaluator, Points
from advland.analysis.landscape.surface_types import (
    DIRECTION_KINDS,
    MODES,
    SurfaceConfig,
    SurfaceResult,
)
from advland.analysis.params import Vec, filter_normalized_direction, norm, trainable
from advland.analysis.runner import Job, Stage, StageCache, fingerprint, progress, say
from advland.errors import UserError

__all__ = [
    "DIRECTION_KINDS",
    "MODES",
    "SurfaceConfig",
    "SurfaceResult",
    "attack_seed",
    "compute_surface",
    "loss_surface",
    "surface_directions",
    "surface_table",
]

FALLBACK = {"grouped": "vmap", "vmap": "loop"}  # what "auto" tries next when a path fails
# speed settings: they may change between resumed calls (results agree to float rounding)
_NOT_RESULT_FIELDS = ("points_per_batch", "mode", "channels_last")
GRID = "grid"
STAGES = {
    GRID: Stage(
        "surface.npz",
        rerun="rerun the surface scan (finished points are lost)",
        mismatch="{path} holds a surface of another config/model/data/directions; "
        "pass resume=False to overwrite it or choose another out_dir",
    )
}
Unit = tuple[int, int, int]  # (budget index, i, j)


def attack_seed(cfg: SurfaceConfig, eps_index: int, batch_index: int) -> int:
    """Seed of the random-start generator for one (ε, data batch), shared by all points."""
    return int(np.random.SeedSequence([cfg.seed, eps_index, batch_index]).generate_state(1)[0])


def surface_directions(
    model: nn.Module, cfg: SurfaceConfig, directions: Sequence[Sequence[torch.Tensor]] | None
) -> tuple[list[Vec], list[float]]:
    """The 1 or 2 directions: unit-normalised eigenvectors, or filter-normalised random."""
    need = 1 if cfg.a2 is None else 2
    if cfg.directions == "filter-random":
        if directions is not None:
            raise UserError(
                "directions were passed but cfg.directions='filter-random'; use 'eigen'"
            )
        gen = torch.Generator().manual_seed(cfg.direction_seed)
        draws = [filter_normalized_direction(model, gen, cfg.ignore_1d) for _ in range(need)]
        vecs = [[t.detach() for t in d] for d in draws]
        return vecs, [float(norm(v)) for v in vecs]
    if directions is None or len(directions) < need:
        got = 0 if directions is None else len(directions)
        raise UserError(f"cfg.directions='eigen' needs {need} eigenvectors, got {got}")
    dev = [p.device for p in trainable(model)]
    vecs = [[t.detach().to(q) for t, q in zip(d, dev, strict=True)] for d in directions[:need]]
    norms = [float(norm(d)) for d in vecs]
    if not all(n > 0 for n in norms):
        raise UserError(f"eigen directions must be non-zero, got norms {norms}")
    return [[t / n for t in d] for d, n in zip(vecs, norms, strict=True)], norms


def _anchors(cfg: SurfaceConfig, a1: np.ndarray, a2: np.ndarray, units) -> tuple:
    """Per point: its attack point (block centre) → (unique anchor coords, index map)."""
    k, index = cfg.reuse_attack_block, []
    keys: dict[tuple[int, int], int] = {}
    for _, i, j in units:
        bi, bj = i // k, j // k
        index.append(keys.setdefault((bi, bj), len(keys)))
    anchors = [
        (a1[bi * k : (bi + 1) * k].mean(), a2[bj * k : (bj + 1) * k].mean()) for bi, bj in keys
    ]
    return torch.tensor(anchors, dtype=torch.float64), torch.tensor(index)


def _units(cfg: SurfaceConfig, done: np.ndarray) -> list[tuple[int, int, int]]:
    """Unfinished (ε, i, j) in ε-major, block-by-block order (blocks stay together)."""
    k, (_, n1, n2) = cfg.reuse_attack_block, done.shape
    out = []
    for e in range(done.shape[0]):
        for bi in range(0, n1, k):
            for bj in range(0, n2, k):
                for i in range(bi, min(bi + k, n1)):
                    out += [(e, i, j) for j in range(bj, min(bj + k, n2)) if not done[e, i, j]]
    return out


def _batches(cfg: SurfaceConfig, done: np.ndarray) -> list[list[Unit]]:
    """The unfinished points in batches of cfg.points_per_batch; a batch never mixes
    budgets (split at ε boundaries)."""
    units, size = _units(cfg, done), cfg.points_per_batch
    batches = [units[i : i + size] for i in range(0, len(units), size)]
    return [[u for u in b if u[0] == e] for b in batches for e in sorted({u[0] for u in b})]


def _fingerprint(cfg: SurfaceConfig, model: nn.Module, data, dirs: list[Vec]) -> str:
    conf = {k: v for k, v in asdict(cfg).items() if k not in _NOT_RESULT_FIELDS}
    return fingerprint(conf, [*model.state_dict().values(), *data, *(t for d in dirs for t in d)])


def _save_grid(cache: StageCache, fp: str, arrays: dict) -> None:
    cache.put(GRID, fp, arrays)  # a test swaps this to simulate a crash


def _flat(d: Vec) -> np.ndarray:
    return torch.cat([t.reshape(-1) for t in d]).detach().float().cpu().numpy()


class _Scan:
    """One call's scan: θ, the directions, the grid, the evaluator and the path in use
    ("auto" falls back grouped → vmap → loop when a path cannot run the model)."""

    def __init__(self, model: nn.Module, data, cfg: SurfaceConfig, dirs: list[Vec]) -> None:
        self.cfg, self.data, self.dirs = cfg, data, dirs
        self.dev = next(model.parameters()).device
        self.theta = [p.detach() for p in trainable(model)]
        self.a1, self.a2 = cfg.grid()
        self.budgets = cfg.budgets()
        self.shape = (len(self.budgets), len(self.a1), len(self.a2))
        self.ev = PointEvaluator(model, cfg)
        self.mode = "grouped" if cfg.mode == "auto" else cfg.mode

    def evaluate(self, batch: list[Unit]) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and error % at the points of `batch` (one budget) over all the data."""
        cfg, (x_all, y_all), e, bs = self.cfg, self.data, batch[0][0], self.cfg.batch_size
        coords = [(self.a1[i], self.a2[j]) for _, i, j in batch]
        anchors, idx = _anchors(cfg, self.a1, self.a2, batch)
        points = Points(
            self.theta,
            self.dirs,
            torch.tensor(coords, dtype=torch.float64),
            anchors,
            idx.to(self.dev),
        )
        attack = cfg.attack_at(self.budgets[e])
        ls = torch.zeros(len(batch), dtype=torch.float64, device=self.dev)
        er = torch.zeros(len(batch), dtype=torch.float64, device=self.dev)
        for b in range(0, x_all.shape[0], bs):
            xb, yb = x_all[b : b + bs].to(self.dev), y_all[b : b + bs].to(self.dev)
            out = self._run(points, DataBatch(xb, yb, attack, attack_seed(cfg, e, b // bs)))
            ls, er = ls + out[0], er + out[1]
        n, loss, errors = x_all.shape[0], ls.cpu().numpy(), er.cpu().numpy()  # one sync/batch
        return loss / n, 100.0 * errors / n

    def _run(self, points: Points, batch: DataBatch) -> tuple[torch.Tensor, torch.Tensor]:
        while True:
            try:
                return self.ev.run(self.mode, points, batch)
            except (RuntimeError, NotImplementedError, NotGroupable) as err:
                if self.cfg.mode != "auto" or self.mode not in FALLBACK:
                    raise
                failed, self.mode = self.mode, FALLBACK[self.mode]
                say(f"{failed} path failed ({type(err).__name__}: {err}); using {self.mode}")


def loss_surface(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    cfg: SurfaceConfig,
    directions: Sequence[Sequence[torch.Tensor]] | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: bool = True,
    indices: Sequence[int] | None = None,
) -> SurfaceResult:
    """`compute_surface`, its table printed; with `out_dir` the partial grid is kept there
    for a rerun (`resume`) and surface.json and surface_figure.png/pdf/json are written."""
    job = Job("surface", out_dir, STAGES, resume=resume)
    result = compute_surface(model, data, cfg, directions, cache=job.cache, indices=indices)
    job.show(surface_table(result))
    if out_dir is not None:
        job.write_json("surface.json", result.to_dict())
        job.figure(
            "advland.reporting.plot_surface:plot_surface", result, job.path("surface_figure")
        )
    return result


def compute_surface(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    cfg: SurfaceConfig,
    directions: Sequence[Sequence[torch.Tensor]] | None = None,
    *,
    cache: StageCache | None = None,
    indices: Sequence[int] | None = None,
) -> SurfaceResult:
    """L_ε(θ + a1·v1 + a2·v2) on the grid of `cfg` for every budget, PGD at each point.

    `model` is not modified (the batched paths are functional; the loop path uses a copy);
    its train/eval flags are restored. With a runner `cache` the grid is saved after every
    batch of points and finished points are reused. `indices` records the data subset.
    The result's config lists the budgets scanned (`eps`, when it was None).
    """
    cfg = dataclasses.replace(cfg, eps=cfg.budgets())
    x_all, y_all = data
    if x_all.shape[0] == 0 or x_all.shape[0] != y_all.shape[0]:
        raise UserError(f"data needs matching non-empty x, y; got {len(x_all)} and {len(y_all)}")
    dev = next(model.parameters()).device
    dirs, dir_norms = surface_directions(model, cfg, directions)
    dirs = [[t.to(dev) for t in d] for d in dirs]
    scan, fp = _Scan(model, data, cfg, dirs), _fingerprint(cfg, model, data, dirs)
    loss, error, done = _grid_state(scan, cache, fp)
    arrays = _grid_arrays(scan, fp)
    batches = _batches(cfg, done)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    start = time.perf_counter()
    try:
        # under torchrun the batches of points are dealt out to the ranks and gathered
        rounds = distributed.map_rounds(batches, scan.evaluate)
        for batch, (ls, er) in progress(rounds, "loss surface", unit="batch", total=len(batches)):
            for k, (e, i, j) in enumerate(batch):
                loss[e, i, j], error[e, i, j], done[e, i, j] = ls[k], er[k], True
            if cache is not None:
                _save_grid(cache, fp, {**arrays, "loss": loss, "error": error, "done": done})
    finally:
        for m, training in modes:
            m.training = training
    return SurfaceResult(
        config=cfg,
        a1=scan.a1,
        a2=scan.a2,
        eps=scan.budgets,
        loss=loss,
        error=error,
        done=done,
        directions=dirs,
        direction_norms=dir_norms,
        mode_used=scan.mode,
        points_evaluated=sum(len(b) for b in batches),
        seconds=time.perf_counter() - start,
        provenance=_provenance(cfg, x_all.shape[0], indices, fp, dev),
    )


def _grid_state(scan: _Scan, cache: StageCache | None, fp: str) -> tuple[np.ndarray, ...]:
    """(loss, error, done) saved by an earlier call with the same fingerprint, else zeros."""
    saved = cache.get(GRID, fp) if cache is not None else None
    if saved is not None:
        return saved["loss"], saved["error"], saved["done"]
    return np.zeros(scan.shape), np.zeros(scan.shape), np.zeros(scan.shape, dtype=bool)


def _grid_arrays(scan: _Scan, fp: str) -> dict[str, np.ndarray]:
    """What is saved with the grid: its axes, budgets, fingerprint, config, directions."""
    return {
        "a1": scan.a1,
        "a2": scan.a2,
        "eps": np.asarray(scan.budgets),
        "fingerprint": np.asarray(fp),
        "config": np.asarray(json.dumps(asdict(scan.cfg))),
        **{f"v{i + 1}": _flat(d) for i, d in enumerate(scan.dirs)},
    }


def _provenance(cfg: SurfaceConfig, n: int, indices, fp: str, dev) -> dict:
    a = cfg.attack
    step = f"{a.step_size}" if a.step_size is not None else f"{a.step_ratio}·ε"
    return {
        "bn_mode": "eval (running statistics unchanged)",
        "attack": f"PGD-{a.steps} {a.norm} step={step} start={a.random_start} "
        f"restarts={a.restarts} loss={cfg.attack_loss} (eval-mode BN)",
        "random_start_seeds": "SeedSequence([seed, eps_index, data_batch]) shared by points",
        "n_examples": int(n),
        "indices": list(indices) if indices is not None else None,
        "fingerprint": fp,
        "device": str(dev),
    }


def surface_table(result: SurfaceResult) -> str:
    """Per budget: the loss at θ (the grid centre), its range and the error at θ."""
    i0 = int(np.abs(result.a1).argmin())
    j0 = int(np.abs(result.a2).argmin())
    lines = [f"{'eps':>8} {'centre loss':>12} {'min':>9} {'max':>9} {'centre err%':>12}"]
    for e, eps in enumerate(result.eps):
        grid = np.where(result.done[e], result.loss[e], np.nan)
        lines.append(
            f"{eps:8.4f} {result.loss[e, i0, j0]:12.4f} {np.nanmin(grid):9.4f} "
            f"{np.nanmax(grid):9.4f} {result.error[e, i0, j0]:12.2f}"
        )
    n, sec = result.points_evaluated, result.seconds
    lines.append(f"{n} points in {sec:.1f}s ({n / max(sec, 1e-9):.2f}/s, {result.mode_used})")
    return "\n".join(lines)


def print_surface_table(result: SurfaceResult) -> None:
    print(surface_table(result))
