"""advland: adversarial training with periodic adversarial scheduling (PAS) and analysis
of the adversarial loss landscape (Liu et al., NeurIPS 2020).

Python API mirroring the CLI::

    import advland
    cfg = advland.build_config("configs/mnist-lenet-cosine.yaml", ["train.epochs=3"])
    summary = advland.train(cfg, "runs/demo")
    advland.evaluate("runs/demo", suite="standard")

Your own model and data (any nn.Module, any map-style Dataset or DataLoader)::

    summary = advland.fit(model, train_loader, "mnist-lenet-cosine", "runs/mine",
                          val_data=val_set)

Your own loop: `advland.PAS` (ε(t), lr(t), period ends), `advland.adversarial_step`,
`advland.SnapshotEnsemble`, and `advland.as_tensors` for the analysis tools.

Models, attacks and schedules live in `advland.models`, `advland.attacks`,
`advland.schedules`; the loss-landscape tools in `advland.analysis`.
"""

from __future__ import annotations

import importlib

from advland import _compat

__version__ = "0.1.0"

# Lazy attributes: `import advland.models` must not pull in training, data or plotting.
_LAZY = {
    "RunConfig": "advland.config",
    "build_config": "advland.config",
    "train": "advland.training.loop",
    "fit": "advland.training.fit",
    "PAS": "advland.training.blocks",
    "adversarial_step": "advland.training.blocks",
    "as_tensors": "advland.data.user",
    "AttackConfig": "advland.attacks.spec",
    "resume": "advland.training.loop",
    "evaluate": "advland.evaluation.run",
    "robust_evaluate": "advland.evaluation.robust",
    "evaluate_model": "advland.evaluation.api",
    "load_model": "advland.evaluation.api",
    "SnapshotEnsemble": "advland.evaluation.ensemble",
    "build_model": "advland.models",
    "Threat": "advland.attacks",
    "pgd": "advland.attacks",
    "apgd": "advland.attacks",
    "fgsm": "advland.attacks",
    "apgd_t": "advland.attacks",
    "fab_t": "advland.attacks",
    "square": "advland.attacks",
    "DataConfig": "advland.data",
    "load_splits": "advland.data",
}

__all__ = ["__version__", *_LAZY]

_compat.install()


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'advland' has no attribute '{name}'")
