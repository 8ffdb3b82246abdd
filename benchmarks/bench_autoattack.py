"""Cost of the `autoattack` suite: time per attack, its share of the suite, the ratio to
torchattacks' implementation of the same attack on the same points, and the whole suite
against the reference AutoAttack implementation (fra31/auto-attack), all in one run.

The suite runs as in an evaluation (APGD-CE → APGD-T → FAB-T → Square, each on the points
still robust); each torchattacks attack then runs on exactly the points advland's attack
got, so every ratio compares equal work. The reference AutoAttack (standard version, same
ε, same points, one batch) runs last on the whole set, and its robust accuracy is reported
beside ours. Models, each trained here in seconds (shuffled batches, one clean and one
PGD-5 epoch at ε = 0.1 on the 4,000 mnist-5k training digits):

- LeNet w=4 on 1×28×28 digits, evaluated on n = 1,000 test digits (200 with --quick);
- ResNet-18 w=1 on CIFAR-shaped 3×32×32 inputs (the digits padded by 2 pixels and copied
  to three channels), n = 100 test digits (not run with --quick).

Test points are a seeded random subset (the split is sorted by class). Times are process
CPU seconds with one thread: other jobs on a shared machine then inflate wall time but not
the ratios (wall seconds are recorded too). Targets: ratio ≤ 1 for every attack, and the
suite faster than the reference. The reference is not a dependency of advland and CI cannot
fetch it: when `import autoattack` does not give fra31's package, that column is skipped
with a note. To measure it, put an unpacked copy on PYTHONPATH for this command only:

    PYTHONPATH=src:/tmp/aa python -m benchmarks.bench_autoattack [--quick] [--only lenet]
        [--n N] [--out results.json]
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
MODELS = {"lenet": ("LeNet w=4", 4, 1000), "resnet18": ("ResNet-18 w=1", 1, 100)}
QUICK_N = 200


def _data():
    x, y = read_csv(locate_csv())
    train, test = split_indices(y)
    xf, yt = torch.from_numpy(x).float() / 255, torch.from_numpy(y)
    return xf[train], yt[train], xf[test], yt[test]


def cifar_shaped(x: torch.Tensor) -> torch.Tensor:
    """[N,1,28,28] digits -> [N,3,32,32]: padded by 2 pixels, copied to three channels."""
    return F.pad(x, (2, 2, 2, 2)).expand(-1, 3, -1, -1).contiguous()


def _trained(name: str, width: int, xtr, ytr) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, width=width, image_size=xtr.shape[-1], in_channels=xtr.shape[1])
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(0)
    for epoch in range(2):
        perm = torch.randperm(len(ytr), generator=gen)
        for i in range(0, len(ytr), 100):
            xb, yb = xtr[perm[i : i + 100]], ytr[perm[i : i + 100]]
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
    # AutoAttack's standard version: 5,000 queries with the schedule not rescaled.
    return torchattacks.Square(model, eps=EPS, n_queries=5000, p_init=0.8, resc_schedule=False)


def _timed(fn):
    """(fn(), CPU seconds, wall seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def suite_case(label: str, model, x, y) -> dict:
    """Time each attack of the suite on the points still robust, then torchattacks' on them."""
    with torch.no_grad():
        robust = model(x).argmax(1) == y
    clean_error = 100.0 * (1 - robust.float().mean().item())
    rows = []
    for k, entry in enumerate(SUITES["autoattack"]):
        attack = at_budget(entry, norm="linf", eps=EPS)
        idx = robust.nonzero().squeeze(1)
        xs, ys = x[idx], y[idx]
        gen = torch.Generator().manual_seed(k)
        x_adv, cpu, wall = _timed(lambda: run_attack(attack, model, xs, ys, gen))  # noqa: B023
        with torch.no_grad():
            fooled = model(x_adv).argmax(1) != ys
        _, t_cpu, t_wall = _timed(lambda: _theirs(attack, model)(xs, ys))  # noqa: B023
        robust[idx[fooled]] = False
        rows.append({"attack": describe(attack), "points": int(idx.numel()),
                     "broken": int(fooled.sum()), "seconds": cpu, "wall_s": wall,
                     "torchattacks_s": t_cpu, "torchattacks_wall_s": t_wall,
                     "ratio": cpu / max(t_cpu, 1e-9)})  # fmt: skip
    total = sum(r["seconds"] for r in rows)
    for r in rows:
        r["share"] = r["seconds"] / total
    return {"model": label, "n": int(y.numel()), "suite_s": total,
            "suite_wall_s": sum(r["wall_s"] for r in rows), "clean_error": clean_error,
            "robust_error": 100.0 * (1 - robust.float().mean().item()), "attacks": rows,
            "robust_mask": robust.tolist()}  # fmt: skip


def reference_suite(model, x, y) -> dict:
    """fra31/auto-attack's standard version on (x, y): CPU/wall seconds and robust error;
    {"skipped": why} when that package is not importable."""
    try:
        from autoattack import AutoAttack  # fra31/auto-attack, not a dependency of advland
    except ImportError as e:
        return {"skipped": f"reference AutoAttack not importable ({e}); put an unpacked "
                "copy of github.com/fra31/auto-attack on PYTHONPATH to measure it"}  # fmt: skip
    adversary = AutoAttack(
        model, norm="Linf", eps=EPS, version="standard", device=str(x.device), verbose=False,
        seed=0,
    )  # fmt: skip
    x_adv, cpu, wall = _timed(lambda: adversary.run_standard_evaluation(x, y, bs=len(y)))
    with torch.no_grad():
        robust = model(x_adv).argmax(1) == y
    return {"seconds": cpu, "wall_s": wall, "robust_error": 100.0 * (1 - robust.float().mean().item()),
            "robust_mask": robust.tolist()}  # fmt: skip


def model_case(key: str, n: int, reference: bool) -> dict:
    """Train the model of `key`, run the suite (+ torchattacks) and, for `reference`, fra31's
    AutoAttack on the same n seeded test digits."""
    label, width, _ = MODELS[key]
    xtr, ytr, xte, yte = _data()
    if key == "resnet18":
        xtr, xte = cifar_shaped(xtr), cifar_shaped(xte)
    model = _trained(key, width, xtr, ytr)
    sub = torch.randperm(len(yte), generator=torch.Generator().manual_seed(0))[:n]
    x, y = xte[sub], yte[sub]
    case = suite_case(label, model, x, y)
    if reference:
        ref = reference_suite(model, x, y)
        if "robust_mask" in ref:
            ours, theirs = torch.tensor(case["robust_mask"]), torch.tensor(ref["robust_mask"])
            ref["points_differ"] = int((ours != theirs).sum())
            ref["ratio"] = case["suite_s"] / max(ref["seconds"], 1e-9)
        case["reference"] = ref
    return case


def run(quick: bool = False, only: list[str] | None = None, n: int | None = None) -> dict:
    keys = ["lenet"] if quick else (only or list(MODELS))
    cases = [
        model_case(k, n or (QUICK_N if quick else MODELS[k][2]), reference=(k == "lenet"))
        for k in keys
    ]
    return {"quick": quick, "eps": EPS, "clock": "cpu", "cases": cases, "machine": machine()}


def report(result: dict) -> str:
    rows = [
        [c["model"], r["attack"], r["points"], r["broken"], r["seconds"], r["share"],
         r["torchattacks_s"], r["ratio"]]
        for c in result["cases"]
        for r in c["attacks"]
    ]  # fmt: skip
    head = ["model", "attack", "points", "broken", "advland s", "share", "torchattacks s",
            "ratio"]  # fmt: skip
    lines = [table(head, rows, ".3g"), "(CPU seconds, one thread)"]
    for c in result["cases"]:
        lines.append(f"{c['model']}: suite {c['suite_s']:.1f} s CPU ({c['suite_wall_s']:.1f} s "
                     f"wall) on {c['n']} digits, ε={EPS} (linf), clean error "
                     f"{c['clean_error']:.1f}%, robust error {c['robust_error']:.1f}%")  # fmt: skip
        ref = c.get("reference")
        if ref is None:
            continue
        if "skipped" in ref:
            lines.append(f"  reference AutoAttack: skipped — {ref['skipped']}")
            continue
        lines.append(f"  reference AutoAttack (standard): {ref['seconds']:.1f} s CPU "
                     f"({ref['wall_s']:.1f} s wall), robust error {ref['robust_error']:.1f}%, "
                     f"{ref['points_differ']} of {c['n']} points differ; advland suite / "
                     f"reference = {ref['ratio']:.2f}")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"LeNet only, {QUICK_N} digits")
    ap.add_argument("--only", nargs="+", choices=list(MODELS), default=None)
    ap.add_argument("--n", type=int, default=None, help="test digits per model")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    emit(run(quick=args.quick, only=args.only, n=args.n), report, args.out)


if __name__ == "__main__":
    main()
