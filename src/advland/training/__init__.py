"""Adversarial training: the PGD training loop, its schedules, PAS periods and snapshots.

Evaluation moved to `advland.evaluation` and run directories to `advland.runs`; the old
names below still resolve, with a DeprecationWarning.
"""

from advland._compat import moved_attribute

_MOVED = {
    "SUITES": "advland.evaluation.suites",
    "EvalResult": "advland.evaluation.robust",
    "SnapshotEnsemble": "advland.evaluation.ensemble",
    "evaluate": "advland.evaluation.run",
    "robust_evaluate": "advland.evaluation.robust",
    "resume": "advland.training.loop",
    "train": "advland.training.loop",
}


def __getattr__(name: str):
    return moved_attribute(__name__, _MOVED, name)
