"""Top-k Hessian spectrum of the adversarial loss, normalised by the loss at random θ
(paper §4.2 and Fig. 2/9).

Pipeline, each step recorded in `spectrum.json`:
1. a fixed data subset (seeded random indices, stored);
2. adversarial examples generated ONCE at θ with the model in eval mode, then detached
   (ε = 0 means clean inputs) — H is the Hessian of L(θ) = mean CE(f_θ(x'), y) at fixed x',
   the reference code's semantics; BN stays in eval mode for the products too;
3. top-k eigenpairs by Lanczos (default) or the paper's power iteration with deflation;
4. normaliser = mean over N random models `model_factory(seed)` of the same adversarial
   loss on the same subset, with the same attack settings and attack seed. The reference
   code does not normalise; our definition (DESIGN §4): before attacking a random model its
   BatchNorm running statistics are re-estimated on the subset's CLEAN inputs (a fresh
   model's statistics are the 0/1 defaults, which would make the eval-mode loss meaningless
   for BN nets); clean inputs are used because BN statistics in training are those of the
   data the network sees at inference time, and because the attack needs statistics before
   it can run. normalised eigenvalue = raw eigenvalue / normaliser.
The files, the printed table and the resume bookkeeping (a rerun into the same folder
reuses a finished eigensolve and every finished random model) are in
`advland.analysis.hessian.spectrum_io`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from advland.analysis.batchnorm import has_batchnorm, reestimate_bn
from advland.analysis.hessian.eigen import EigenResult
from advland.analysis.hessian.hvp import HVP_METHODS, Attack, HessianOperator
from advland.analysis.hessian.lanczos import lanczos
from advland.analysis.hessian.power import power_iteration
from advland.analysis.hessian.spectrum_io import SpectrumProgress, format_table, write_spectrum
from advland.analysis.params import Vec, trainable
from advland.attacks import Threat, pgd
from advland.errors import UserError
from advland.fileio import remove_stale_temps

SOLVERS = ("lanczos", "power")


@dataclass(frozen=True)
class SpectrumConfig:
    """Settings of one spectrum computation (defaults: Lanczos, top 20, tol 1e-3).

    step_size None → 2.5·eps/steps (Madry's rule; ε/4 for the paper's CIFAR PGD-10).
    max_iter None → solver default (power: 50 products per eigenpair, the paper's value;
    Lanczos: 50·k products in total). num_random_models 0 → no normalisation.
    """

    k: int = 20
    solver: str = "lanczos"
    subset_size: int = 1000
    subset_seed: int = 0
    eps: float = 0.0
    norm: str = "linf"
    steps: int = 10
    step_size: float | None = None
    random_start: str = "step"
    attack_seed: int = 0
    batch_size: int = 256
    num_random_models: int = 10
    tol: float = 1e-3
    max_iter: int | None = None
    solver_seed: int = 0
    hvp_method: str = "func"

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise UserError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.hvp_method not in HVP_METHODS:
            raise UserError(f"hvp_method must be one of {HVP_METHODS}, got {self.hvp_method!r}")
        for name in ("k", "subset_size", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eps < 0:
            raise UserError(f"eps must be >= 0, got {self.eps}; pass a non-negative budget")
        if self.num_random_models < 0:
            raise UserError(f"num_random_models must be >= 0, got {self.num_random_models}")
        if self.step_size is not None and self.step_size <= 0:
            raise UserError(f"step_size must be > 0, got {self.step_size}; or leave it unset")

    @property
    def resolved_step_size(self) -> float:
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps


@dataclass(frozen=True)
class SpectrumResult:
    """Raw and normalised top-k eigenvalues plus everything needed to reproduce them."""

    eigenvalues: torch.Tensor  # raw, descending
    normalized_eigenvalues: torch.Tensor | None  # raw / normalizer
    normalizer: float | None  # mean adversarial loss over the random models
    random_losses: tuple[float, ...]
    random_seeds: tuple[int, ...]
    adversarial_loss: float  # L(θ) at the fixed x' on the subset
    clean_loss: float
    eigen: EigenResult
    subset_indices: torch.Tensor
    config: SpectrumConfig
    bn_mode: str = "eval"

    def eigenvector(self, i: int, model: nn.Module) -> Vec:
        """Eigenvector i as a parameter vector on the model's device."""
        like = trainable(model)
        return [t.to(p.device) for t, p in zip(self.eigen.vector(i, like), like, strict=True)]

    def to_dict(self) -> dict:
        cfg = self.config
        norm_vals = self.normalized_eigenvalues
        return {
            "eigenvalues": self.eigenvalues.tolist(),
            "normalized_eigenvalues": None if norm_vals is None else norm_vals.tolist(),
            "normalization": {
                "definition": "mean adversarial CE loss over random models (same subset, "
                "same attack and attack seed; BN re-estimated on the subset's clean inputs)",
                "normalizer": self.normalizer,
                "random_losses": list(self.random_losses),
                "random_seeds": list(self.random_seeds),
            },
            "adversarial_loss": self.adversarial_loss,
            "clean_loss": self.clean_loss,
            "solver": self.eigen.summary(),
            "subset": {
                "size": len(self.subset_indices),
                "seed": cfg.subset_seed,
                "indices": self.subset_indices.tolist(),
            },
            "attack": {
                "name": "pgd" if cfg.eps > 0 else "none (clean)",
                "eps": cfg.eps,
                "norm": cfg.norm,
                "steps": cfg.steps,
                "step_size": cfg.resolved_step_size if cfg.eps > 0 else None,
                "random_start": cfg.random_start,
                "seed": cfg.attack_seed,
                "model_mode": "eval",
                "generated": "once at θ, then held fixed",
            },
            "bn_mode": self.bn_mode,
            "seeds": {
                "subset": cfg.subset_seed,
                "attack": cfg.attack_seed,
                "solver": cfg.solver_seed,
                "random_models": list(self.random_seeds),
            },
            "config": dataclasses.asdict(cfg),
        }


def select_subset(n: int, size: int, seed: int) -> torch.Tensor:
    """`size` distinct indices of [0, n), seeded, returned sorted."""
    if size > n:
        raise UserError(f"subset_size {size} exceeds the {n} examples given; lower subset_size")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:size].sort().values


def make_attack(cfg: SpectrumConfig) -> Attack | None:
    """PGD with the config's settings and a fresh generator seeded with `attack_seed`."""
    if cfg.eps == 0:
        return None
    threat = Threat(norm=cfg.norm, eps=cfg.eps)
    generator = torch.Generator().manual_seed(cfg.attack_seed)

    def attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pgd(
            model,
            x,
            y,
            threat,
            steps=cfg.steps,
            step_size=cfg.resolved_step_size,
            random_start=cfg.random_start,
            restarts=1,
            generator=generator,
            model_mode="eval",
        )

    return attack


def _subset_tensors(model: nn.Module, x, y, idx, device) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = trainable(model)[0].dtype
    xs, ys = x[idx], y[idx]
    xs = xs.to(torch.float64) / 255 if xs.dtype == torch.uint8 else xs
    if float(xs.min()) < 0 or float(xs.max()) > 1:
        raise UserError("inputs must lie in [0,1] (or be uint8 images); rescale x")
    return xs.to(device=device, dtype=dtype), ys.to(device=device, dtype=torch.long)


def _solve(op: HessianOperator, cfg: SpectrumConfig, progress: bool) -> EigenResult:
    gen = torch.Generator().manual_seed(cfg.solver_seed)
    if cfg.solver == "power":
        max_iter = cfg.max_iter or 50  # the paper's 50 products per eigenpair
        return power_iteration(op, cfg.k, max_iter=max_iter, tol=cfg.tol, generator=gen,
                               progress=progress)  # fmt: skip
    return lanczos(op, cfg.k, max_iter=cfg.max_iter, tol=cfg.tol, generator=gen,
                   progress=progress)  # fmt: skip


def random_model_losses(
    model_factory: Callable[[int], nn.Module],
    xs: torch.Tensor,
    ys: torch.Tensor,
    cfg: SpectrumConfig,
    *,
    progress: bool = False,
    known: dict[int, float] | None = None,
    cache: SpectrumProgress | None = None,
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Adversarial loss of N freshly initialised models (seeds 0..N−1), see module doc.

    Seeds in `known` (losses of an earlier, killed call) are not recomputed; with `cache`
    each new loss is saved as soon as it is known. Every model has its own seed and attack
    generator, so skipping some does not change the others."""
    seeds = tuple(range(cfg.num_random_models))
    losses = dict(known or {})
    todo = [s for s in seeds if s not in losses]
    for seed in tqdm(todo, desc="random models", disable=not progress, leave=False):
        rand = model_factory(seed).to(device=xs.device, dtype=xs.dtype)
        if has_batchnorm(rand):
            reestimate_bn(rand, xs.split(cfg.batch_size))
        op = HessianOperator.at_adversarial(
            rand, xs, ys, make_attack(cfg), batch_size=cfg.batch_size
        )
        losses[seed] = op.loss()
        if cache:
            cache.save_random_losses(losses)
    return seeds, tuple(losses[s] for s in seeds)


def _losses_and_eigen(
    model: nn.Module,
    xs: torch.Tensor,
    ys: torch.Tensor,
    idx: torch.Tensor,
    cfg: SpectrumConfig,
    cache: SpectrumProgress | None,
    verbose: bool,
) -> tuple[EigenResult, float, float]:
    """Losses at θ and the top-k eigenpairs: reused from `cache` if it holds them, else
    computed and saved there at once (the solve is the expensive part)."""
    solved = cache.solved(xs.device) if cache else None
    if solved is not None:
        return solved
    op = HessianOperator.at_adversarial(
        model, xs, ys, make_attack(cfg), batch_size=cfg.batch_size, method=cfg.hvp_method
    )
    adv_loss = op.loss()
    clean_loss = HessianOperator(model, xs, ys, batch_size=cfg.batch_size).loss()
    eigen = _solve(op, cfg, progress=verbose)
    if cache:
        cache.save_solve(eigen, adv_loss, clean_loss, idx)
    return eigen, adv_loss, clean_loss


def hessian_spectrum(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: SpectrumConfig,
    *,
    model_factory: Callable[[int], nn.Module] | None = None,
    out_dir: Path | str | None = None,
    device: torch.device | str | None = None,
    verbose: bool = True,
    resume: bool = True,
) -> SpectrumResult:
    """Top-k spectrum of the adversarial loss at the model's θ (see module docstring).

    x: images in [0,1] (float) or uint8, y: labels; the subset is drawn from them. The
    model is used where it lives unless `device` is given (then it is moved there).
    With `out_dir`, writes spectrum.json, spectrum.npz and spectrum_plot.{png,pdf,json};
    with `resume` too, the eigensolve and random-model losses a killed earlier call left
    there are reused (`spectrum_io.SpectrumProgress`).
    """
    start = time.perf_counter()
    if device is not None:
        model = model.to(device)
    device = trainable(model)[0].device
    idx = select_subset(x.shape[0], cfg.subset_size, cfg.subset_seed)
    xs, ys = _subset_tensors(model, x, y, idx, device)
    cache = None
    if out_dir is not None:
        if resume:
            remove_stale_temps(out_dir)  # left by a write a kill interrupted
        cache = SpectrumProgress.of(out_dir, cfg, model, xs, ys, resume=resume, verbose=verbose)
    normalise = model_factory is not None and cfg.num_random_models > 0
    # read (and verify) both caches before any work: a corrupt one stops the call at once
    known = cache.random_losses(cfg.num_random_models) if cache and normalise else {}
    eigen, adv_loss, clean_loss = _losses_and_eigen(model, xs, ys, idx, cfg, cache, verbose)
    seeds, losses = (), ()
    if normalise:
        seeds, losses = random_model_losses(
            model_factory, xs, ys, cfg, progress=verbose, known=known, cache=cache
        )
    normalizer = float(np.mean(losses)) if losses else None
    result = SpectrumResult(
        eigenvalues=eigen.eigenvalues,
        normalized_eigenvalues=None if normalizer is None else eigen.eigenvalues / normalizer,
        normalizer=normalizer,
        random_losses=losses,
        random_seeds=seeds,
        adversarial_loss=adv_loss,
        clean_loss=clean_loss,
        eigen=eigen,
        subset_indices=idx,
        config=cfg,
    )
    if out_dir is not None:
        write_spectrum(
            result, Path(out_dir), model, wall_time_s=time.perf_counter() - start, progress=cache
        )
    if verbose:
        print(format_table(result))
    return result


def top_eigenvectors(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: SpectrumConfig,
    k: int = 2,
    *,
    device: torch.device | str | None = None,
) -> list[Vec]:
    """The top-k eigenvectors (unit norm, descending eigenvalue) as parameter vectors;
    no normalisation, no files. Used by the perturbation-similarity and surface tools."""
    cfg = dataclasses.replace(cfg, k=k, num_random_models=0)
    res = hessian_spectrum(model, x, y, cfg, device=device, verbose=False)
    return [res.eigenvector(i, model) for i in range(k)]


def top_eigenvector(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: SpectrumConfig,
    *,
    device: torch.device | str | None = None,
) -> Vec:
    """The top eigenvector (unit norm) of the adversarial-loss Hessian as a parameter vector."""
    return top_eigenvectors(model, x, y, cfg, k=1, device=device)[0]
