"""Adversarial-training step vs its floor, and vs the plain ways users write it.

    python -m benchmarks.bench_train_step [--quick] [--repeats N] [--out FILE]

For each model (random weights; speed does not depend on them) and one fixed batch of
synthetic data in the model's input shape, these are timed round-robin in one process:

- clean: a clean training step (forward + backward + optimizer step), cost (a);
- attack floor: k attack iterations (forward + input gradient, parameters frozen,
  eval mode), cost k·(b);
- advland: `advland.training.loop.train_step`, the real PGD-k training step (cost (c)),
  with the shipped default `perf: auto` (channels_last on, CPU included) and the clean
  step and floor in the same layout; the overhead (c) / (k·b + a) has target <= 1.05;
- advland NCHW: the same with `perf.channels_last: off`, against its own NCHW floor;
- reference-style (NCHW, as users write it): PGD written as the paper's public code does
  it — `loss.backward()` with parameter gradients enabled, then `x_adv.grad.sign()` —
  followed by the same update;
  target: advland >= 1.3x faster at k = 10;
- torchattacks: a loop around `torchattacks.PGD` (when the package imports; skipped with
  a note otherwise); target: advland never slower.
"""

from __future__ import annotations

import argparse
import copy

import torch
import torch.nn.functional as F

from advland.attacks.pgd import attack_mode
from advland.config import build_config
from advland.models import build_model
from advland.runs.checkpoint import Generators
from advland.training.loop import train_step
from advland.training.setup import Perf, build_optimizer, resolve_perf
from benchmarks.common import emit, interleaved, machine, paired, ratio_clock, stats, table

K = 10
MNIST = dict(shape=(1, 28, 28), eps=0.3, step=0.075, optim="adam")
CIFAR = dict(shape=(3, 32, 32), eps=8 / 255, step=2 / 255, optim="sgd")
# (model, width, data, batch); --quick: smaller LeNet-16/CIFAR batches and CIFAR widths 4
CASES = {
    "full": [
        ("lenet", 4, MNIST, 128),
        ("lenet", 16, MNIST, 128),
        ("resnet18", 8, CIFAR, 32),
        ("vgg", 8, CIFAR, 32),
    ],
    "quick": [
        ("lenet", 4, MNIST, 128),
        ("lenet", 16, MNIST, 32),
        ("resnet18", 4, CIFAR, 16),
        ("vgg", 4, CIFAR, 16),
    ],
}
SMOKE = [("lenet", 1, MNIST, 16)]  # the test suite's configuration (seconds)


def _config(name: str, width: int, data: dict, batch: int):
    return build_config(
        None,
        [
            f"model.name={name}",
            f"model.width={width}",
            f"optim.name={data['optim']}",
            f"optim.lr={1e-3 if data['optim'] == 'adam' else 0.01}",
            f"attack.eps={data['eps']}",
            f"attack.step_size={data['step']}",
            f"attack.steps={K}",
            f"train.batch_size={batch}",
        ],
    )


def _setup(cfg, data: dict, batch: int, channels_last: bool):
    torch.manual_seed(0)
    c, h, _ = data["shape"]
    model = build_model(cfg.model.name, width=cfg.model.width, in_channels=c, image_size=h)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, *data["shape"], generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), generator=g)
    return model, build_optimizer(model, cfg), x, y


def clean_step(model, opt, x, y) -> None:
    model.train()
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def attack_floor(model, x, y, k: int) -> None:
    """k × (forward + input gradient) with frozen parameters: what any PGD-k must pay."""
    with attack_mode(model, "eval"):
        for _ in range(k):
            xa = x.detach().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xa), y, reduction="sum"), xa)


def reference_style_step(model, opt, x, y, eps: float, alpha: float, k: int) -> None:
    """PGD-k the way the paper's public code (and many tutorials) write it."""
    model.eval()
    x_adv = (x + torch.empty_like(x).uniform_(-alpha, alpha)).clamp(0, 1)
    for _ in range(k):
        x_adv.requires_grad_()
        loss = F.cross_entropy(model(x_adv), y)
        model.zero_grad()
        loss.backward()  # also computes (and accumulates) every parameter gradient
        x_adv = x_adv.detach() + alpha * x_adv.grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    clean_step(model, opt, x_adv, y)


def torchattacks_step(attack, model, opt, x, y) -> None:
    model.train()
    x_adv = attack(x, y)  # torchattacks switches to eval mode for the attack, then back
    clean_step(model, opt, x_adv, y)


def _torchattacks():
    try:
        import torchattacks
    except Exception as e:  # any import failure means "not available"
        return None, f"torchattacks not importable ({type(e).__name__}: {e}); skipped"
    return torchattacks, f"torchattacks {torchattacks.__version__}"


def measure(case: tuple, repeats: int) -> dict:
    name, width, data, batch = case
    cfg = _config(name, width, data, batch)
    eps, alpha = data["eps"], data["step"]
    # advland runs with the shipped default (`perf: auto`: channels_last on a CPU too); the
    # floor is measured in the same layout. The plain baselines run in PyTorch's default
    # NCHW, as users write them; advland with `perf.channels_last=off` is measured beside.
    perf = resolve_perf(cfg, torch.device("cpu"))
    model, _, x, y = _setup(cfg, data, batch, channels_last=perf.channels_last)
    plain, _, x_plain, _ = _setup(cfg, data, batch, channels_last=False)
    # every contender trains its own copy of the same initial weights
    m = {who: copy.deepcopy(model) for who in ("floor", "advland")}
    m |= {who: copy.deepcopy(plain) for who in ("nchw", "nchw-floor", "reference", "torchattacks")}
    opts = {who: build_optimizer(net, cfg) for who, net in m.items()}
    gens, gens_nchw = Generators.seeded(0), Generators.seeded(0)
    contenders = {
        "clean step (a)": lambda: clean_step(m["floor"], opts["floor"], x, y),
        f"attack floor k*(b), k={K}": lambda: attack_floor(m["floor"], x, y, K),
        "advland PGD step (c)": lambda: train_step(
            cfg, m["advland"], opts["advland"], x, y, eps, gens=gens, perf=perf
        ),
        "reference-style step": lambda: reference_style_step(
            m["reference"], opts["reference"], x_plain, y, eps, alpha, K
        ),
        "NCHW clean step": lambda: clean_step(m["nchw-floor"], opts["nchw-floor"], x_plain, y),
        "NCHW attack floor": lambda: attack_floor(m["nchw-floor"], x_plain, y, K),
        "advland NCHW step": lambda: train_step(
            cfg, m["nchw"], opts["nchw"], x_plain, y, eps, gens=gens_nchw, perf=Perf()
        ),
    }
    ta, note = _torchattacks()
    if ta is not None:
        attack = ta.PGD(m["torchattacks"], eps=eps, alpha=alpha, steps=K, random_start=True)
        contenders["torchattacks step"] = lambda: torchattacks_step(
            attack, m["torchattacks"], opts["torchattacks"], x_plain, y
        )
    times = interleaved(contenders, repeats)
    clock = ratio_clock()
    t = times[clock]
    adv, nchw = ["advland PGD step (c)"], ["advland NCHW step"]
    ratios = {
        "overhead (c)/(k*b+a)": paired(t, adv, ["clean step (a)", f"attack floor k*(b), k={K}"]),
        "reference-style / advland": paired(t, ["reference-style step"], adv),
        "NCHW: overhead vs NCHW floor": paired(t, nchw, ["NCHW clean step", "NCHW attack floor"]),
        "NCHW: reference-style / advland NCHW": paired(t, ["reference-style step"], nchw),
        "channels_last speed-up (NCHW / default)": paired(t, nchw, adv),
    }
    if ta is not None:
        ratios["torchattacks / advland"] = paired(t, ["torchattacks step"], adv)
        ratios["NCHW: torchattacks / advland NCHW"] = paired(t, ["torchattacks step"], nchw)
    params = sum(p.numel() for p in model.parameters())
    return {
        "model": f"{name} w={width}",
        "params": params,
        "input": list(data["shape"]),
        "batch": batch,
        "k": K,
        "repeats": repeats,
        "torchattacks": note,
        "clock": clock,
        "layout": "NHWC" if perf.channels_last else "NCHW",
        "seconds": {n: stats(t) | {"all": t} for n, t in times["wall"].items()},
        "cpu_seconds": {n: stats(t) | {"all": t} for n, t in times["cpu"].items()},
        "ratios": ratios,
    }


TARGETS = {
    "overhead (c)/(k*b+a)": ("<=", 1.05),
    "reference-style / advland": (">=", 1.3),
    "torchattacks / advland": (">=", 1.0),
}


def run(quick: bool = False, repeats: int | None = None, smoke: bool = False) -> dict:
    cases = SMOKE if smoke else CASES["quick" if quick else "full"]
    repeats = repeats or (3 if smoke else 7 if quick else 9)
    results = [measure(case, repeats) for case in cases]
    return {"benchmark": "train_step", "quick": quick, "machine": machine(), "cases": results}


def report(result: dict) -> str:
    out = []
    for c in result["cases"]:
        out.append(
            f"\n{c['model']} ({c['params']:,} params), input {c['input']}, batch "
            f"{c['batch']}, PGD-{c['k']}, {c['repeats']} repeats; {c['torchattacks']}"
        )
        rows = [
            [
                n,
                s["median"] * 1e3,
                s["min"] * 1e3,
                s["max"] * 1e3,
                c["cpu_seconds"][n]["median"] * 1e3,
            ]
            for n, s in c["seconds"].items()
        ]
        heads = ["contender", "median ms", "min ms", "max ms", "CPU ms (median)"]
        out.append(table(heads, rows, ".1f"))
        out.append(f"  ratios ({c['clock']} time), median [min-max] of the per-round ratio:")
        for name, r in c["ratios"].items():
            target = TARGETS.get(name)
            mark = f" (target {target[0]} {target[1]})" if target else ""
            out.append(f"  {name}: {r['median']:.3f} [{r['min']:.2f}-{r['max']:.2f}]{mark}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches and widths, 7 repeats")
    ap.add_argument("--smoke", action="store_true", help="LeNet w=1 only (the test suite's)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.quick, args.repeats, args.smoke)
    emit(result, report, args.out)
    return result


if __name__ == "__main__":
    main()
