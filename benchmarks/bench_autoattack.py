"""Cost of the `autoattack` suite: time per attack, its share of the suite, and the ratio to
torchattacks' implementation of the same attack on the same points, measured in one run.

The suite runs as in an evaluation (APGD-CE → APGD-T → FAB-T → Square, each on the points
still robust); each torchattacks attack then runs on exactly the points advland's attack
got, so every ratio compares equal work. Models: LeNet w=4 on mnist-5k test digits (one
clean and one PGD-5 epoch of training first, so the attacks meet a partly robust model)
and, without --quick, ResNet-18 w=1 on the same digits. Target: ratio ≤ 1 for every attack.

    python -m benchmarks.bench_autoattack [--quick] [--out results.json]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from advland.attacks import Threat, pgd
from advland.data.mnist5k import locate_csv, read_csv, split_indices
from advland.evaluation.robust import run_attack
from advland.evaluation.suites import SUITES, at_budget, describe
from advland.models import build_model
from benchmarks.common import emit, machine, table

EPS = 0.1


def _data():
    x, y = read_csv(locate_csv())
    train, test = split_indices(y)
    xf, yt = torch.from_numpy(x).float() / 255, torch.from_numpy(y)
    return xf[train], yt[train], xf[test], yt[test]


def _trained(name: str, width: int, xtr, ytr) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, width=width, image_size=28, in_channels=1)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for epoch in range(2):
        for i in range(0, 4000, 100):
            xb, yb = xtr[i : i + 100], ytr[i : i + 100]
            if epoch:
                xb = pgd(model, xb, yb, Threat("linf", EPS), steps=5, step_size=EPS / 2)
            model.train()
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    return model.eval()


def _theirs(attack, model):
    import torchattacks

    if attack.name == "apgd-ce":
        return torchattacks.APGD(model, eps=EPS, steps=100, loss="ce")
    if attack.name == "apgd-t":
        return torchattacks.APGDT(model, eps=EPS, steps=100, n_classes=10)
    if attack.name == "fab-t":
        return torchattacks.FAB(model, eps=EPS, steps=100, multi_targeted=True, n_classes=10)
    return torchattacks.Square(model, eps=EPS, n_queries=5000, p_init=0.8)


def suite_case(label: str, model, x, y) -> dict:
    """Time each attack of the suite on the points still robust, then torchattacks' on them."""
    with torch.no_grad():
        robust = model(x).argmax(1) == y
    rows = []
    for k, entry in enumerate(SUITES["autoattack"]):
        attack = at_budget(entry, norm="linf", eps=EPS)
        idx = robust.nonzero().squeeze(1)
        xs, ys = x[idx], y[idx]
        t = time.perf_counter()
        x_adv = run_attack(attack, model, xs, ys, torch.Generator().manual_seed(k))
        ours = time.perf_counter() - t
        with torch.no_grad():
            fooled = model(x_adv).argmax(1) != ys
        t = time.perf_counter()
        _theirs(attack, model)(xs, ys)
        theirs = time.perf_counter() - t
        robust[idx[fooled]] = False
        rows.append({"attack": describe(attack), "points": int(idx.numel()),
                     "broken": int(fooled.sum()), "seconds": ours, "torchattacks_s": theirs,
                     "ratio": ours / max(theirs, 1e-9)})  # fmt: skip
    total = sum(r["seconds"] for r in rows)
    for r in rows:
        r["share"] = r["seconds"] / total
    return {"model": label, "n": int(y.numel()), "suite_s": total,
            "robust_error": 100.0 * (1 - robust.float().mean().item()), "attacks": rows}  # fmt: skip


def run(quick: bool = False) -> dict:
    xtr, ytr, xte, yte = _data()
    n = 200 if quick else 1000
    cases = [suite_case("LeNet w=4", _trained("lenet", 4, xtr, ytr), xte[:n], yte[:n])]
    if not quick:
        cases.append(
            suite_case("ResNet-18 w=1", _trained("resnet18", 1, xtr, ytr), xte[:n], yte[:n])
        )
    return {"quick": quick, "eps": EPS, "cases": cases, "machine": machine()}


def report(result: dict) -> str:
    rows = [
        [c["model"], r["attack"], r["points"], r["broken"], r["seconds"], r["share"],
         r["torchattacks_s"], r["ratio"]]
        for c in result["cases"]
        for r in c["attacks"]
    ]  # fmt: skip
    head = ["model", "attack", "points", "broken", "advland s", "share", "torchattacks s",
            "ratio"]  # fmt: skip
    lines = [table(head, rows, ".3g")]
    for c in result["cases"]:
        lines.append(f"{c['model']}: suite {c['suite_s']:.1f} s on {c['n']} digits, ε={EPS} "
                     f"(linf), robust error {c['robust_error']:.1f}%")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="LeNet only, 200 digits")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    emit(run(quick=args.quick), report, args.out)


if __name__ == "__main__":
    main()
