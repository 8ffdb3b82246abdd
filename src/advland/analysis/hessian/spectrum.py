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
   code does not normalise; our definition: before attacking a random model its
   BatchNorm running statistics are re-estimated on the subset's CLEAN inputs (a fresh
   model's statistics are the 0/1 defaults, which would make the eval-mode loss meaningless
   for BN nets); clean inputs are used because BN statistics in training are those of the
   data the network sees at inference time, and because the attack needs statistics before
   it can run. normalised eigenvalue = raw eigenvalue / normaliser.

`compute_spectrum` is the computation; given a stage cache (`advland.analysis.runner`) it
saves the eigensolve and each random model's loss as soon as they are known and reuses
those of an earlier call with the same inputs. `hessian_spectrum` runs it as a job: the
files, the printed table and the stages are in `advland.analysis.hessian.spectrum_io`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from advland.analysis.batchnorm import has_batchnorm, reestimate_bn
from advland.analysis.hessian.eigen import EigenResult
from advland.analysis.hessian.hvp import Attack, HessianOperator
from advland.analysis.hessian.lanczos import lanczos
from advland.analysis.hessian.power import power_iteration
from advland.analysis.hessian.spectrum_io import (
    STAGES,
    format_table,
    solve_payload,
    solved_from,
    write_spectrum,
)
from advland.analysis.hessian.spectrum_types import SOLVERS, SpectrumConfig, SpectrumResult
from advland.analysis.params import Vec, trainable
from advland.analysis.runner import Job, StageCache, architecture, fingerprint
from advland.analysis.runner import progress as progress_bar
from advland.attacks import pgd
from advland.errors import UserError

__all__ = [
    "SOLVERS",
    "SpectrumConfig",
    "SpectrumResult",
    "compute_spectrum",
    "hessian_spectrum",
    "make_attack",
    "random_model_losses",
    "select_subset",
    "top_eigenvector",
    "top_eigenvectors",
]

SOLVER_FIELDS = ("k", "solver", "tol", "max_iter", "solver_seed", "hvp_method")


def select_subset(n: int, size: int, seed: int) -> torch.Tensor:
    """`size` distinct indices of [0, n), seeded, returned sorted."""
    if size > n:
        raise UserError(f"subset_size {size} exceeds the {n} examples given; lower subset_size")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:size].sort().values


def make_attack(cfg: SpectrumConfig) -> Attack | None:
    """PGD with the config's attack (eval mode) and a fresh generator seeded with
    `attack_seed`; None for ε = 0."""
    a = cfg.attack
    if a.eps == 0:
        return None
    threat = a.threat()
    generator = torch.Generator().manual_seed(cfg.attack_seed)

    def attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pgd(
            model,
            x,
            y,
            threat,
            steps=a.steps,
            step_size=a.step(),
            random_start=a.random_start,
            restarts=a.restarts,
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
        return power_iteration(
            op, cfg.k, max_iter=max_iter, tol=cfg.tol, generator=gen, progress=progress
        )
    return lanczos(op, cfg.k, max_iter=cfg.max_iter, tol=cfg.tol, generator=gen, progress=progress)


def fingerprints(cfg: SpectrumConfig, model: nn.Module, xs, ys) -> tuple[str, str]:
    """(solve, normaliser) fingerprints. The solve depends on the settings, θ and the
    subset; the random-model losses on the attack and subset settings, the architecture
    and the subset, not on θ, the solver or the number of random models."""
    conf = {k: v for k, v in cfg.record().items() if k != "num_random_models"}
    attack = {k: v for k, v in conf.items() if k not in SOLVER_FIELDS}
    norm_fp = fingerprint({**attack, "architecture": architecture(model)}, [xs, ys])
    solve_fp = fingerprint({**conf, "normaliser": norm_fp}, model.state_dict().values())
    return solve_fp, norm_fp


def random_model_losses(
    model_factory: Callable[[int], nn.Module],
    xs: torch.Tensor,
    ys: torch.Tensor,
    cfg: SpectrumConfig,
    *,
    progress: bool = False,
    known: dict[int, float] | None = None,
    save: Callable[[dict[int, float]], None] | None = None,
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Adversarial loss of N freshly initialised models (seeds 0..N−1), see module doc.

    Seeds in `known` (losses of an earlier, killed call) are not recomputed; `save`
    receives the losses so far each time a new one is known. Every model has its own
    seed and attack generator, so skipping some does not change the others."""
    seeds = tuple(range(cfg.num_random_models))
    losses = dict(known or {})
    todo = [s for s in seeds if s not in losses]
    for seed in progress_bar(todo, "random models", enabled=progress):
        rand = model_factory(seed).to(device=xs.device, dtype=xs.dtype)
        if has_batchnorm(rand):
            reestimate_bn(rand, xs.split(cfg.batch_size))
        op = HessianOperator.at_adversarial(
            rand, xs, ys, make_attack(cfg), batch_size=cfg.batch_size
        )
        losses[seed] = op.loss()
        if save is not None:
            save(losses)
    return seeds, tuple(losses[s] for s in seeds)


def _known_losses(cache: StageCache | None, fp: str, wanted: int) -> dict[int, float]:
    """Random-model losses by seed from an earlier call with the same inputs."""
    rec = cache.get("random_losses", fp) if cache is not None else None
    if cache is None or rec is None:
        return {}
    losses = {int(k): float(v) for k, v in rec["losses"].items() if int(k) < wanted}
    reused = f"reusing {len(losses)} of {wanted} random-model losses in {{path}}"
    cache.note("random_losses", reused)
    return losses


def _losses_and_eigen(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    cfg: SpectrumConfig,
    *,
    cache: StageCache | None,
    fp: str,
    progress: bool,
) -> tuple[EigenResult, float, float]:
    """Losses at θ and the top-k eigenpairs: reused from `cache` if it holds them, else
    computed and saved there at once (the solve is the expensive part)."""
    xs, ys, idx = data
    saved = cache.get("solve", fp) if cache is not None else None
    if cache is not None and saved is not None:
        cache.note("solve", "reusing the eigensolve in {path}")
        return solved_from(saved, xs.device)
    op = HessianOperator.at_adversarial(
        model, xs, ys, make_attack(cfg), batch_size=cfg.batch_size, method=cfg.hvp_method
    )
    adv_loss = op.loss()
    clean_loss = HessianOperator(model, xs, ys, batch_size=cfg.batch_size).loss()
    eigen = _solve(op, cfg, progress=progress)
    if cache is not None:
        cache.put("solve", fp, solve_payload(eigen, (adv_loss, clean_loss), idx))
    return eigen, adv_loss, clean_loss


def compute_spectrum(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: SpectrumConfig,
    *,
    model_factory: Callable[[int], nn.Module] | None = None,
    cache: StageCache | None = None,
    progress: bool = False,
) -> SpectrumResult:
    """Top-k spectrum of the adversarial loss at the model's θ, where the model lives
    (see the module docstring). With `cache`, the stages "solve" and "random_losses"
    are saved as soon as computed and reused when an earlier call left them."""
    device = trainable(model)[0].device
    idx = select_subset(x.shape[0], cfg.subset_size, cfg.subset_seed)
    xs, ys = _subset_tensors(model, x, y, idx, device)
    solve_fp, norm_fp = fingerprints(cfg, model, xs, ys) if cache is not None else ("", "")
    normalise = model_factory is not None and cfg.num_random_models > 0
    # read (and verify) both stages before any work: a corrupt one stops the call at once
    known = _known_losses(cache, norm_fp, cfg.num_random_models) if normalise else {}
    eigen, adv_loss, clean_loss = _losses_and_eigen(
        model, (xs, ys, idx), cfg, cache=cache, fp=solve_fp, progress=progress
    )
    seeds: tuple[int, ...] = ()
    losses: tuple[float, ...] = ()
    if normalise and model_factory is not None:
        save = _saver(cache, norm_fp) if cache is not None else None
        seeds, losses = random_model_losses(
            model_factory, xs, ys, cfg, progress=progress, known=known, save=save
        )
    normalizer = float(np.mean(losses)) if losses else None
    return SpectrumResult(
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
        fingerprint=solve_fp,
    )


def _saver(cache: StageCache, fp: str) -> Callable[[dict[int, float]], None]:
    """Saves the random-model losses known so far as stage "random_losses"."""

    def save(losses: dict[int, float]) -> None:
        cache.put("random_losses", fp, {"losses": {str(k): v for k, v in losses.items()}})

    return save


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
    """`compute_spectrum` as a job (`advland.analysis.runner`).

    x: images in [0,1] (float) or uint8, y: labels; the subset is drawn from them. The
    model is used where it lives unless `device` is given (then it is moved there).
    With `out_dir`, writes spectrum.json, spectrum.npz and spectrum_plot.{png,pdf,json};
    with `resume` too, the eigensolve and random-model losses a killed earlier call left
    there are reused. With `verbose`, shows progress and prints the table.
    """
    job = Job("hessian", out_dir, STAGES, resume=resume, verbose=verbose)
    if device is not None:
        model = model.to(device)
    result = compute_spectrum(
        model, x, y, cfg, model_factory=model_factory, cache=job.cache, progress=verbose
    )
    if out_dir is not None:
        write_spectrum(result, job, model, wall_time_s=job.elapsed)
    job.show(format_table(result))
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
    if device is not None:
        model = model.to(device)
    res = compute_spectrum(model, x, y, cfg)
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
