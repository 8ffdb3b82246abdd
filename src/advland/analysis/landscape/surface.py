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
config go to `surface.npz` atomically, with a checksum verified on resume; a later call with the same config, model, data and
directions (checked by a fingerprint) skips the finished points.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from advland.analysis.landscape.grouped import NotGroupable
from advland.analysis.landscape.surface_eval import PointEvaluator
from advland.analysis.params import Vec, filter_normalized_direction, norm, trainable
from advland.analysis.resume import fingerprint
from advland.errors import UserError
from advland.fileio import atomic_write_json, atomic_write_npz, read_npz, remove_stale_temps

DIRECTION_KINDS = ("eigen", "filter-random")
MODES = ("auto", "grouped", "vmap", "loop")
FALLBACK = {"grouped": "vmap", "vmap": "loop"}  # what "auto" tries next when a path fails
# speed settings: they may change between resumed calls (results agree to float rounding)
_NOT_RESULT_FIELDS = ("points_per_batch", "mode", "channels_last")


@dataclass(frozen=True)
class SurfaceConfig:
    a1: tuple[float, float] = (-1.0, 1.0)
    n1: int = 21
    a2: tuple[float, float] | None = (-1.0, 1.0)  # None → a 1-D curve along v1
    n2: int = 21
    directions: str = "filter-random"  # "eigen": pass unit eigenvectors as `directions`
    ignore_1d: bool = True  # filter-random: zero biases/BN parameters (else keep θ's scale)
    direction_seed: int = 0
    eps: tuple[float, ...] = (0.0, 8 / 255)  # several budgets in one call
    norm: str = "linf"
    steps: int = 10
    step_size: float | None = None  # absolute step for every ε; None → step_ratio·ε
    step_ratio: float = 0.25
    random_start: str = "step"
    restarts: int = 1
    attack_loss: str = "ce"
    seed: int = 0
    batch_size: int = 256  # data examples per forward
    points_per_batch: int = 16  # grid points per batched forward/backward
    reuse_attack_block: int = 1  # k > 1: one attack per k×k block (approximate)
    mode: str = "auto"  # "grouped" | "vmap" | "loop" | "auto" (in that order, as they work)
    # grouped and loop paths: image activations in channels_last, like training (faster on
    # a CPU: docs/benchmarks.md §4); vmap decides its own layouts
    channels_last: bool = True

    def __post_init__(self) -> None:
        if self.directions not in DIRECTION_KINDS:
            raise UserError(f"directions must be one of {DIRECTION_KINDS}, got {self.directions}")
        if self.mode not in MODES:
            raise UserError(f"mode must be one of {MODES}, got '{self.mode}'")
        if not self.eps or any(e < 0 for e in self.eps):
            raise UserError(f"eps must be a non-empty list of budgets >= 0, got {self.eps}")
        for name in ("n1", "n2", "steps", "restarts", "batch_size", "points_per_batch"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.reuse_attack_block < 1:
            raise UserError(
                f"reuse_attack_block must be >= 1 (1 = off), got {self.reuse_attack_block}"
            )

    def alpha(self, eps: float) -> float:
        return self.step_size if self.step_size is not None else self.step_ratio * eps

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        a1 = np.linspace(*self.a1, self.n1)
        a2 = np.linspace(*self.a2, self.n2) if self.a2 is not None else np.zeros(1)
        return a1, a2


@dataclass(frozen=True)
class SurfaceResult:
    """loss/error have shape [len(eps), n1, n2] (n2 = 1 for a 1-D surface)."""

    config: SurfaceConfig
    a1: np.ndarray
    a2: np.ndarray
    eps: tuple[float, ...]
    loss: np.ndarray  # mean cross-entropy at the PGD examples of each point
    error: np.ndarray  # robust error (%) at those examples
    done: np.ndarray
    directions: list[Vec]
    direction_norms: list[float]
    mode_used: str
    points_evaluated: int  # in this call (resumed points excluded)
    seconds: float
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "a1": self.a1.tolist(),
            "a2": self.a2.tolist(),
            "eps": list(self.eps),
            "loss": self.loss.tolist(),
            "robust_error": self.error.tolist(),
            "direction_norms": self.direction_norms,
            "mode_used": self.mode_used,
            "points_evaluated": self.points_evaluated,
            "seconds": self.seconds,
            "provenance": self.provenance,
        }


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
    k, keys, index = cfg.reuse_attack_block, {}, []
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


def _fingerprint(cfg: SurfaceConfig, model: nn.Module, data, dirs: list[Vec]) -> str:
    conf = {k: v for k, v in asdict(cfg).items() if k not in _NOT_RESULT_FIELDS}
    return fingerprint(conf, [*model.state_dict().values(), *data, *(t for d in dirs for t in d)])


def _write_npz(path: Path, arrays: dict) -> None:
    atomic_write_npz(path, arrays)  # checksummed; a test swaps this to simulate a crash


def _flat(d: Vec) -> np.ndarray:
    return torch.cat([t.reshape(-1) for t in d]).detach().float().cpu().numpy()


def loss_surface(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    cfg: SurfaceConfig,
    directions: Sequence[Sequence[torch.Tensor]] | None = None,
    out_dir: str | Path | None = None,
    resume: bool = True,
    indices: Sequence[int] | None = None,
) -> SurfaceResult:
    """L_ε(θ + a1·v1 + a2·v2) on the grid of `cfg` for every ε in cfg.eps, PGD at each point.

    `model` is not modified (the vmap path is functional; the loop path uses a copy); its
    train/eval flags are restored. `indices` (optional) records the data subset used.
    """
    x_all, y_all = data
    if x_all.shape[0] == 0 or x_all.shape[0] != y_all.shape[0]:
        raise UserError(f"data needs matching non-empty x, y; got {len(x_all)} and {len(y_all)}")
    dev = next(model.parameters()).device
    dirs, dir_norms = surface_directions(model, cfg, directions)
    dirs = [[t.to(dev) for t in d] for d in dirs]
    a1, a2 = cfg.grid()
    shape = (len(cfg.eps), len(a1), len(a2))
    loss, error, done = np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=bool)
    fp = _fingerprint(cfg, model, data, dirs)
    path = Path(out_dir) / "surface.npz" if out_dir is not None else None
    if resume and path is not None and path.exists():
        remove_stale_temps(path.parent)  # left by a write a kill interrupted
        loss, error, done = _load_partial(path, fp, shape)
    arrays = {
        "a1": a1, "a2": a2, "eps": np.asarray(cfg.eps), "fingerprint": np.asarray(fp),
        "config": np.asarray(json.dumps(asdict(cfg))),
        **{f"v{i + 1}": _flat(d) for i, d in enumerate(dirs)},
    }  # fmt: skip
    theta = [p.detach() for p in trainable(model)]
    ev, mode = PointEvaluator(model, cfg), ("grouped" if cfg.mode == "auto" else cfg.mode)
    units = _units(cfg, done)
    batches = [
        units[i : i + cfg.points_per_batch] for i in range(0, len(units), cfg.points_per_batch)
    ]
    # a batch never mixes budgets: split at ε boundaries
    batches = [[u for u in b if u[0] == e] for b in batches for e in sorted({u[0] for u in b})]
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    start = time.perf_counter()
    try:
        for batch in tqdm(batches, desc="loss surface", unit="batch", leave=False):
            e = batch[0][0]
            coords = torch.tensor([(a1[i], a2[j]) for _, i, j in batch], dtype=torch.float64)
            anchors, idx = _anchors(cfg, a1, a2, batch)
            args = (theta, dirs, coords, anchors, idx.to(dev))
            ls, er = torch.zeros(len(batch), dtype=torch.float64, device=dev), 0
            for b in range(0, x_all.shape[0], cfg.batch_size):
                xb = x_all[b : b + cfg.batch_size].to(dev)
                yb = y_all[b : b + cfg.batch_size].to(dev)
                seed = attack_seed(cfg, e, b // cfg.batch_size)
                while True:
                    try:
                        out = ev.run(mode, *args, xb, yb, cfg.eps[e], seed)
                        break
                    except (RuntimeError, NotImplementedError, NotGroupable) as err:
                        if cfg.mode != "auto" or mode not in FALLBACK:
                            raise
                        tqdm.write(f"{mode} path failed ({type(err).__name__}: {err}); "
                                   f"using {FALLBACK[mode]}")  # fmt: skip
                        mode = FALLBACK[mode]
                ls, er = ls + out[0], er + out[1]
            n, ls, er = x_all.shape[0], ls.cpu().numpy(), er.cpu().numpy()  # one sync/batch
            for k, (_, i, j) in enumerate(batch):
                loss[e, i, j], error[e, i, j] = ls[k] / n, 100.0 * er[k] / n
                done[e, i, j] = True
            if path is not None:
                _write_npz(path, {**arrays, "loss": loss, "error": error, "done": done})
    finally:
        for m, training in modes:
            m.training = training
    seconds = time.perf_counter() - start
    result = SurfaceResult(
        config=cfg, a1=a1, a2=a2, eps=tuple(cfg.eps), loss=loss, error=error, done=done,
        directions=dirs, direction_norms=dir_norms, mode_used=mode, points_evaluated=len(units),
        seconds=seconds,
        provenance={
            "bn_mode": "eval (running statistics unchanged)",
            "attack": _attack_text(cfg),
            "random_start_seeds": "SeedSequence([seed, eps_index, data_batch]) shared by points",
            "n_examples": int(x_all.shape[0]),
            "indices": list(indices) if indices is not None else None,
            "fingerprint": fp,
            "device": str(dev),
        },
    )  # fmt: skip
    print_surface_table(result)
    if out_dir is not None:
        atomic_write_json(Path(out_dir) / "surface.json", result.to_dict())
        from advland.reporting.plot_surface import plot_surface  # matplotlib only if saving

        plot_surface(result, Path(out_dir) / "surface_figure")
    return result


def _load_partial(path: Path, fp: str, shape: tuple) -> tuple[np.ndarray, ...]:
    z = read_npz(path, rerun="rerun the surface scan (finished points are lost)")
    if str(z.get("fingerprint")) != fp or z["loss"].shape != shape:
        raise UserError(
            f"{path} holds a surface of another config/model/data/directions; "
            "pass resume=False to overwrite it or choose another out_dir"
        )
    return z["loss"], z["error"], z["done"]


def print_surface_table(result: SurfaceResult) -> None:
    i0 = int(np.abs(result.a1).argmin())
    j0 = int(np.abs(result.a2).argmin())
    print(f"{'eps':>8} {'centre loss':>12} {'min':>9} {'max':>9} {'centre err%':>12}")
    for e, eps in enumerate(result.eps):
        grid = np.where(result.done[e], result.loss[e], np.nan)
        print(
            f"{eps:8.4f} {result.loss[e, i0, j0]:12.4f} {np.nanmin(grid):9.4f} "
            f"{np.nanmax(grid):9.4f} {result.error[e, i0, j0]:12.2f}"
        )
    n, sec = result.points_evaluated, result.seconds
    print(f"{n} points in {sec:.1f}s ({n / max(sec, 1e-9):.2f}/s, {result.mode_used})")


def _attack_text(cfg: SurfaceConfig) -> str:
    step = f"{cfg.step_size}" if cfg.step_size is not None else f"{cfg.step_ratio}·ε"
    return (
        f"PGD-{cfg.steps} {cfg.norm} step={step} start={cfg.random_start} "
        f"restarts={cfg.restarts} loss={cfg.attack_loss} (eval-mode BN)"
    )
