"""Settings and result of the Hessian spectrum tool (`advland.analysis.hessian.spectrum`).

A leaf module: the computation (`spectrum`) and its files (`spectrum_io`) both import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from advland.analysis.hessian.eigen import EigenResult
from advland.analysis.hessian.hvp import HVP_METHODS
from advland.analysis.params import Vec, trainable
from advland.analysis.runner import validate_tool
from advland.attacks.spec import AttackConfig, accepts_flat_attack
from advland.validation import setting

SOLVERS = ("lanczos", "power")


def madry_step(attack: AttackConfig) -> float | None:
    """2.5·ε/steps (Madry et al.): the step a flat `SpectrumConfig(eps=…)` call without a
    step size means."""
    return 2.5 * attack.eps / attack.steps if attack.eps > 0 else None


@accepts_flat_attack(unset_step=madry_step)
@dataclass(frozen=True)
class SpectrumConfig:
    """Settings of one spectrum computation (defaults: Lanczos, top 20, tol 1e-3).

    `attack` generates the fixed adversarial examples (ε = 0: clean inputs; default);
    it runs with the model in eval mode whatever `attack.model_mode` says, since the
    Hessian is that of the eval-mode loss. max_iter None → solver default (power: 50
    products per eigenpair, the paper's value; Lanczos: 50·k products in total).
    num_random_models 0 → no normalisation.
    """

    k: int = setting(20, ge=1)
    solver: str = setting("lanczos", choices=SOLVERS)
    subset_size: int = setting(1000, ge=1)
    subset_seed: int = setting(0)
    attack: AttackConfig = field(default_factory=lambda: AttackConfig(eps=0.0))
    attack_seed: int = setting(0)
    batch_size: int = setting(256, ge=1)
    num_random_models: int = setting(10, ge=0)
    tol: float = setting(1e-3)
    max_iter: int | None = setting(None)
    solver_seed: int = setting(0)
    hvp_method: str = setting("func", choices=HVP_METHODS)

    def __post_init__(self) -> None:
        validate_tool(self)

    @property
    def eps(self) -> float:
        return self.attack.eps

    @property
    def resolved_step_size(self) -> float:
        return self.attack.step()

    def record(self) -> dict:
        """The settings as one flat record (spectrum.json's "config", and what the resume
        fingerprints hash). `step_ratio` appears when it sets the step, `restarts` when
        there are several."""
        a = self.attack
        out = {
            "k": self.k,
            "solver": self.solver,
            "subset_size": self.subset_size,
            "subset_seed": self.subset_seed,
            "eps": a.eps,
            "norm": a.norm,
            "steps": a.steps,
            "step_size": a.step_size,
        }
        if a.step_size is None:
            out["step_ratio"] = a.step_ratio
        if a.restarts != 1:
            out["restarts"] = a.restarts
        return out | {
            "random_start": a.random_start,
            "attack_seed": self.attack_seed,
            "batch_size": self.batch_size,
            "num_random_models": self.num_random_models,
            "tol": self.tol,
            "max_iter": self.max_iter,
            "solver_seed": self.solver_seed,
            "hvp_method": self.hvp_method,
        }


@dataclass(frozen=True)
class SpectrumResult:
    """Raw and normalised top-k eigenvalues plus everything needed to reproduce them.
    `fingerprint` identifies the settings, weights and subset when the result was saved
    (empty otherwise)."""

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
    fingerprint: str = ""

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
            "attack": self._attack_record(),
            "bn_mode": self.bn_mode,
            "seeds": {
                "subset": cfg.subset_seed,
                "attack": cfg.attack_seed,
                "solver": cfg.solver_seed,
                "random_models": list(self.random_seeds),
            },
            "config": cfg.record(),
        }

    def _attack_record(self) -> dict:
        cfg, a = self.config, self.config.attack
        record = {
            "name": "pgd" if a.eps > 0 else "none (clean)",
            "eps": a.eps,
            "norm": a.norm,
            "steps": a.steps,
            "step_size": a.step() if a.eps > 0 else None,
            "random_start": a.random_start,
            "seed": cfg.attack_seed,
            "model_mode": "eval",
            "generated": "once at θ, then held fixed",
        }
        if a.restarts != 1:
            record["restarts"] = a.restarts
        return record
