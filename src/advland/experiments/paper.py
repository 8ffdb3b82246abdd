"""The paper's items and published numbers, as data (Liu et al., NeurIPS 2020).

`ITEMS` lists every figure and table the reproduction covers, in paper order, with its
title and the claim it supports; the report walks this list so that items never run still
appear. `TABLE1` is the whole of the paper's Table 1 and `RANDOM_THETA_LOSS` the random-θ
loss means of appendix C.2.2 (used there to normalise Hessian eigenvalues). Numbers are
copied from the paper; errors are in percent.
"""

from __future__ import annotations

from typing import NamedTuple


class PaperItem(NamedTuple):
    name: str
    title: str
    claim: str


ITEMS: tuple[PaperItem, ...] = (
    PaperItem(
        "fig1",
        "Gradient norm, robust training error and ‖θ−θ0‖ over the first/last 2000 minibatches, "
        "CIFAR10",
        "Larger ε gives smaller early gradients and a slower escape from the initial plateau, "
        "and larger non-vanishing gradients at the end of training.",
    ),
    PaperItem(
        "fig2",
        "Top-20 Hessian eigenvalues of ResNet18 models trained with several ε (raw and normalised)",
        "The top Hessian eigenvalues, raw and normalised by the random-θ loss, grow with ε: "
        "minima are sharper under larger ε.",
    ),
    PaperItem(
        "fig3",
        "Perturbation cosine similarity and robust error along the top eigenvector vs a random "
        "direction, CIFAR10",
        "Adversarial perturbations and robust error change much faster along the top Hessian "
        "eigenvector than along a random direction.",
    ),
    PaperItem(
        "fig4",
        "Robust test error vs Adam learning rate, MNIST LeNet ε=0.4",
        "Cosine and linear ε warmup beat a constant ε and are less sensitive to the learning rate.",
    ),
    PaperItem(
        "fig5",
        "1-D sketch of the vanilla and adversarial loss of log(1+exp(θx)), ε=0.6 and ε=1.2",
        "The adversarial loss is non-smooth at θ=0 and flat around the origin under a large ε.",
    ),
    PaperItem(
        "fig8",
        "Gradient norm, robust training error and ‖θ−θ0‖ in the first/last 500 minibatches, MNIST",
        "As on CIFAR10: larger ε slows early training and leaves larger gradients at the end.",
    ),
    PaperItem(
        "fig9",
        "Top-20 Hessian eigenvalues of LeNet models trained with several ε (raw and normalised)",
        "As on CIFAR10: the top Hessian eigenvalues grow with ε.",
    ),
    PaperItem(
        "fig10",
        "Perturbation cosine similarity and robust error along the top eigenvector vs a random "
        "direction, MNIST",
        "As on CIFAR10: perturbations change faster along the top eigenvector than along a "
        "random direction.",
    ),
    PaperItem(
        "fig11",
        "Training-loss curves for several ε, CIFAR10 and MNIST",
        "The training loss has a similar magnitude for every ε, and a smaller range under "
        "larger ε.",
    ),
    PaperItem(
        "fig12",
        "Loss surfaces along the top-2 Hessian eigenvectors for several ε",
        "The curvature around the trained minimum increases with ε.",
    ),
    PaperItem(
        "fig13",
        "Learning-rate warmup with constant ε vs ε warmup, MNIST LeNet ε=0.4",
        "Learning-rate warmup does not give the benefits of ε warmup: it is worse or unstable.",
    ),
    PaperItem(
        "fig14",
        "Robust test error vs LeNet width factor (1-16) for each ε scheduler, MNIST ε=0.4",
        "Cosine and linear schedulers beat a constant ε at every width; small models fail "
        "to converge with a constant ε.",
    ),
    PaperItem(
        "fig15",
        "Training loss and test error along Bezier curves connecting two minima, several ε",
        "Minima are well connected in vanilla training but less connected as ε grows.",
    ),
    PaperItem(
        "table1",
        "Clean and robust test error of the ε schedulers, with and without periodic resets",
        "Cosine and linear ε schedulers beat a constant ε; on CIFAR10 periodic adversarial "
        "scheduling (ensembles) improves robust error.",
    ),
    PaperItem(
        "theory",
        "Linear-model theory checks (Proposition 1, Theorem 1)",
        "Under a large enough ε the optimal linear classifier is the origin: training collapses "
        "to a constant classifier.",
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
