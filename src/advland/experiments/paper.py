"""The paper's items and published numbers, as data (Liu et al., NeurIPS 2020).

`ITEMS` is the one description of every figure and table the reproduction covers, in paper
order: its name, title and the claim it supports. The recipes take their title and claim
from it (`experiments.recipe.recipe`), `advland reproduce --list` shows it, and
`advland report` walks it so that items never run still appear. `TABLE1` is the whole of the paper's Table 1 and `RANDOM_THETA_LOSS` the random-θ
loss means of appendix C.2.2 (used there to normalise Hessian eigenvalues). Numbers are
copied from the paper; errors are in percent.
"""

from __future__ import annotations

from typing import NamedTuple


class PaperItem(NamedTuple):
    """One figure or table: the name `advland reproduce` takes, its title, and its claim."""

    name: str
    title: str
    claim: str


ITEMS: tuple[PaperItem, ...] = (
    PaperItem(
        "fig1",
        "Gradient norm, robust training error and ‖θ−θ0‖ over the first/last minibatches "
        "(CIFAR-10 ResNet18)",
        "Under a larger ε the early gradients are smaller and θ leaves its initial plateau more "
        "slowly; at the end of training the gradient norm grows with ε.",
    ),
    PaperItem(
        "fig2",
        "Top-20 Hessian eigenvalues of ResNet18 models trained with several ε (raw and normalised)",
        "The top Hessian eigenvalues, raw and normalised by the mean loss at random θ, grow with "
        "ε: minima are sharper under larger budgets.",
    ),
    PaperItem(
        "fig3",
        "Perturbation cosine similarity and robust error at θ±a·v: top eigenvector vs random "
        "direction (ResNet18)",
        "Along the top Hessian eigenvector the adversarial perturbations change abruptly and the "
        "robust error rises sharply; along a random direction both stay flat.",
    ),
    PaperItem(
        "fig4",
        "Robust test error vs Adam learning rate for constant / linear / cosine ε (MNIST LeNet, "
        "ε=0.4; quick scale ε=0.3)",
        "Linear and cosine ε warmup beat a constant ε and work over a broader range of learning "
        "rates: faster at small rates, stable (no divergence) at large ones.",
    ),
    PaperItem(
        "fig5",
        "1-D sketch: vanilla vs adversarial loss g(x, θ) = log(1 + exp(θx)), x = 1, ε = 0.6 and "
        "1.2",
        "The adversarial loss is not smooth at θ = 0 (a kink whose gradient jump grows with ε), "
        "while the vanilla loss is smooth.",
    ),
    PaperItem(
        "fig8",
        "Gradient norm, robust training error and ‖θ−θ0‖ over the first/last minibatches "
        "(MNIST LeNet)",
        "As on CIFAR-10 (Fig. 1): under a larger ε the early gradients are smaller and θ leaves "
        "its initial plateau more slowly; at the end of training the gradient norm grows with ε.",
    ),
    PaperItem(
        "fig9",
        "Top-20 Hessian eigenvalues of LeNet models trained with several ε (raw and normalised)",
        "As on CIFAR-10 (Fig. 2): the top Hessian eigenvalues, raw and normalised, grow with ε.",
    ),
    PaperItem(
        "fig10",
        "Perturbation cosine similarity and robust error at θ±a·v: top eigenvector vs random "
        "direction (LeNet, MNIST)",
        "As on CIFAR-10 (Fig. 3): along the top Hessian eigenvector the perturbations change "
        "abruptly and the robust error rises sharply; along a random direction both stay flat.",
    ),
    PaperItem(
        "fig11",
        "Training-loss learning curves under several ε (CIFAR-10 and MNIST)",
        "The adversarial training loss has a similar magnitude for every ε, and a smaller range "
        "under larger ε.",
    ),
    PaperItem(
        "fig12",
        "Adversarial loss surface along the top-2 Hessian eigenvectors for several ε",
        "The curvature around the trained parameters grows with ε: minima are sharper under "
        "larger budgets.",
    ),
    PaperItem(
        "fig13",
        "Learning-rate warmup with a constant ε vs ε warmup (MNIST LeNet, ε=0.4; quick scale "
        "ε=0.3)",
        "Warming up the learning rate instead of ε does not give the benefit of ε warmup: worse "
        "at 1e-4, high variance or no convergence at larger rates.",
    ),
    PaperItem(
        "fig14",
        "Robust test error of LeNet models of several widths under each ε scheduler (MNIST, "
        "ε=0.4; quick scale ε=0.3)",
        "Cosine and linear schedulers beat a constant ε at every width; small models (w = 2, 4) "
        "fail to converge with a constant ε.",
    ),
    PaperItem(
        "fig15",
        "Training loss and test error along Bezier curves connecting two independently trained "
        "models, for several ε",
        "For vanilla training or a small ε the learned curves are flat; under a larger ε they "
        "cross regions of higher loss: minima are less well connected.",
    ),
    PaperItem(
        "table1",
        "Clean and robust test error of the ε schedulers, with and without periodic resets "
        "(Table 1)",
        "Cosine or linear ε schedulers beat a constant ε on clean and robust error in all cases; "
        "on CIFAR-10 the periodic scheduler's snapshot ensemble improves robust error.",
    ),
    PaperItem(
        "theory",
        "Section 3 on linear models: Theorems 1-3, Proposition 1 and the ε̄ bound, checked "
        "against closed forms",
        "Under a large ε the optimal linear classifier collapses to a constant one (Theorem 1); "
        "the adversarial loss has non-vanishing gradients (Theorem 2) and larger curvature "
        "(Theorem 3) as ε grows; the version space shrinks (Proposition 1).",
    ),
)

ITEM_NAMES: tuple[str, ...] = tuple(item.name for item in ITEMS)


class Table1Row(NamedTuple):
    task: str  # a key of TABLE1_TASKS
    scheduler: str  # "constant" | "cosine" | "linear" (the names advland's configs use)
    periodic: bool  # with periodic learning-rate and ε resets (a 3-model ensemble)
    clean_mean: float
    clean_std: float
    robust_mean: float
    robust_std: float


TABLE1_TASKS: dict[str, str] = {
    "mnist-lenet": "MNIST LeNet ε=0.4",
    "cifar10-vgg": "CIFAR10 VGG ε=8/255",
    "cifar10-resnet18": "CIFAR10 ResNet18 ε=8/255",
}

SCHEDULERS: tuple[str, ...] = ("constant", "cosine", "linear")

_R = Table1Row
TABLE1: tuple[Table1Row, ...] = (
    # MNIST has no periodic rows: the paper found periodic learning rates did not help there.
    _R("mnist-lenet", "constant", False, 1.56, 0.17, 8.58, 0.89),
    _R("mnist-lenet", "cosine", False, 1.09, 0.02, 6.64, 0.70),
    _R("mnist-lenet", "linear", False, 1.06, 0.06, 6.69, 0.59),
    _R("cifar10-vgg", "constant", False, 28.25, 0.47, 56.22, 0.43),
    _R("cifar10-vgg", "cosine", False, 25.06, 0.19, 56.06, 0.48),
    _R("cifar10-vgg", "linear", False, 23.56, 0.95, 56.09, 0.14),
    _R("cifar10-vgg", "constant", True, 28.33, 0.81, 54.24, 0.28),
    _R("cifar10-vgg", "cosine", True, 23.91, 0.21, 53.18, 0.21),
    _R("cifar10-vgg", "linear", True, 21.88, 0.33, 53.03, 0.14),
    _R("cifar10-resnet18", "constant", False, 18.62, 0.06, 55.00, 0.08),
    _R("cifar10-resnet18", "cosine", False, 18.43, 0.26, 53.95, 0.23),
    _R("cifar10-resnet18", "linear", False, 18.55, 0.14, 53.46, 0.20),
    _R("cifar10-resnet18", "constant", True, 21.00, 0.05, 48.98, 0.25),
    _R("cifar10-resnet18", "cosine", True, 19.90, 0.18, 48.57, 0.25),
    _R("cifar10-resnet18", "linear", True, 20.26, 0.28, 48.60, 0.13),
)

# Appendix C.2.2: mean training loss L_ε(θ) over 10 random θ, as (ε, mean) pairs.
RANDOM_THETA_LOSS: dict[str, tuple[tuple[float, float], ...]] = {
    "cifar10": ((0.0, 2.3034), (2 / 255, 2.3044), (4 / 255, 2.3053), (8 / 255, 2.3071)),
    "mnist": ((0.0, 2.3029), (0.1, 2.3414), (0.2, 2.3424), (0.3, 2.3429), (0.4, 2.3432)),
}

TABLE1_COLUMNS: tuple[str, ...] = (
    "task",
    "scheduler",
    "clean error %",
    "robust error %",
    "clean error % (periodic)",
    "robust error % (periodic)",
)


def item(name: str) -> PaperItem:
    """The paper item called `name` (KeyError if there is none)."""
    for it in ITEMS:
        if it.name == name:
            return it
    raise KeyError(f"no paper item {name!r}; known: {', '.join(ITEM_NAMES)}")


def table1_row(task: str, scheduler: str, periodic: bool) -> Table1Row | None:
    """The published row, or None where the paper has none (MNIST with periodic resets)."""
    for row in TABLE1:
        if (row.task, row.scheduler, row.periodic) == (task, scheduler, periodic):
            return row
    return None


def mean_std(mean: float, std: float) -> str:
    """The paper's own format, e.g. "1.56 ± 0.17"."""
    return f"{mean:.2f} ± {std:.2f}"


def table1_paper(tasks: tuple[str, ...] | None = None) -> dict:
    """The paper's Table 1 as a result.json table: {"columns", "rows"}, one row per
    task × scheduler, "-" where the paper reports nothing. `tasks` keeps only those tasks
    (keys of TABLE1_TASKS), e.g. ("mnist-lenet",) for a run of the MNIST rows only."""
    rows = []
    for task in tasks or tuple(TABLE1_TASKS):
        if task not in TABLE1_TASKS:
            raise KeyError(f"no Table 1 task {task!r}; known: {', '.join(TABLE1_TASKS)}")
        for scheduler in SCHEDULERS:
            cells = [TABLE1_TASKS[task], scheduler]
            for periodic in (False, True):
                row = table1_row(task, scheduler, periodic)
                cells += _cells(row)
            rows.append(cells)
    return {"columns": list(TABLE1_COLUMNS), "rows": rows}


def _cells(row: Table1Row | None) -> list[str]:
    if row is None:
        return ["-", "-"]
    return [mean_std(row.clean_mean, row.clean_std), mean_std(row.robust_mean, row.robust_std)]
