"""Adversarial training: the PGD training loop, its schedules, PAS periods and snapshots.

The package's own modules: `loop` (train, resume, the epoch and the step), `state` (what a
run carries), `setup` (model, optimizer, schedules, speed switches), `records` (metrics,
logs, summary), `dynamics` (per-minibatch statistics). Evaluation lives in
`advland.evaluation` and run directories in `advland.runs`; the names below still
resolve here, with a DeprecationWarning.
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
