"""Training loop, snapshot ensemble, evaluation suite, checkpoints and run directories."""

from advland.training.ensemble import SnapshotEnsemble
from advland.training.evaluate import EvalResult, robust_evaluate
from advland.training.evaluate_run import evaluate
from advland.training.loop import resume, train
from advland.training.suites import SUITES

__all__ = [
    "SUITES",
    "EvalResult",
    "SnapshotEnsemble",
    "evaluate",
    "resume",
    "robust_evaluate",
    "train",
]
