"""Evaluation along a trained Bezier curve (paper C.2.5, Fig. 15): metrics on a t-grid.

Each point B(t) is a fresh model copy. Its BatchNorm statistics are re-estimated on the
same kind of inputs the curve was trained on (paper: "re-estimate ... based on the
training set"): clean inputs for ε = 0; for ε > 0 a clean re-estimate first, then PGD in
eval mode at B(t), then a re-estimate on those adversarial inputs. Loss and error are then
measured in eval mode, clean and at the curve's ε.

Every point has its own seed, so the result does not depend on which points an earlier,
interrupted call finished: with an output folder each point's metrics are saved as soon
as they are known (a stage of `advland.analysis.runner`) and a rerun with the same curve,
data and settings skips them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advland import distributed
from advland.analysis.batchnorm import has_batchnorm, reestimate_bn
from advland.analysis.landscape.adversary import adversarial, attack_text
from advland.analysis.landscape.bezier import BezierCurve
from advland.analysis.landscape.curve_types import METRICS, CurveConfig, CurveResult, Split
from advland.analysis.runner import Job, Stage, StageCache, fingerprint, progress
from advland.runs.checkpoint import save_verified

POINTS = "points"
STAGES = {
    POINTS: Stage("curve_points.json", rerun="rerun 'advland analyze curve' (training is reused)")
}


def _chunks(x: torch.Tensor, bs: int, dev) -> Iterable[torch.Tensor]:
    return (x[i : i + bs].to(dev) for i in range(0, x.shape[0], bs))


def _attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: CurveConfig, generator):
    return adversarial(model, x, y, cfg.attack, loss=cfg.attack_loss, generator=generator)


def reestimate_at(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: CurveConfig, generator
) -> torch.Tensor:
    """Re-estimate BN statistics on the inputs the curve was trained on; returns them.

    ε = 0: the first `cfg.bn_examples` clean training inputs. ε > 0: a clean re-estimate
    (so the eval-mode attack sees sensible statistics), then PGD at the model in eval mode
    (running statistics untouched), then the final re-estimate on those adversarial inputs.
    """
    dev = next(model.parameters()).device
    n = cfg.bn_examples or x.shape[0]
    xs, ys, bs = x[:n], y[:n], cfg.bn_batch_size
    reestimate_bn(model, _chunks(xs, bs, dev))
    if cfg.attack.eps == 0:
        return xs
    adv = [
        _attack(model, xb, yb, cfg, generator)
        for xb, yb in zip(_chunks(xs, bs, dev), _chunks(ys, bs, dev), strict=True)
    ]
    reestimate_bn(model, adv)
    return torch.cat(adv)


def _measure(model: nn.Module, data: Split, cfg: CurveConfig, generator, robust: bool):
    """(mean cross-entropy, error %) over a split in eval mode, at PGD examples if robust."""
    dev, (x, y) = next(model.parameters()).device, data
    loss, wrong = 0.0, 0
    bs = cfg.eval_batch_size
    for xb, yb in zip(_chunks(x, bs, dev), _chunks(y, bs, dev), strict=True):
        if robust:
            xb = _attack(model, xb, yb, cfg, generator)
        with torch.no_grad():
            z = model(xb)
        loss += F.cross_entropy(z, yb, reduction="sum").item()  # host sync per batch
        wrong += (z.argmax(1) != yb).sum().item()
    return loss / x.shape[0], 100.0 * wrong / x.shape[0]


def evaluate_curve(
    curve: BezierCurve,
    train: Split,
    test: Split,
    cfg: CurveConfig,
    out_dir: str | Path | None = None,
    indices: dict[str, list[int]] | None = None,
) -> CurveResult:
    """`curve_metrics`, its table printed; with `out_dir` the finished points are kept
    there for a rerun and the results saved (`save_curve`)."""
    job = Job("curve", out_dir, STAGES)
    result = curve_metrics(curve, train, test, cfg, cache=job.cache, indices=indices)
    job.show(curve_table(result))
    if out_dir is not None:
        save_curve(result, curve, out_dir)
    return result


def curve_metrics(
    curve: BezierCurve,
    train: Split,
    test: Split,
    cfg: CurveConfig,
    *,
    cache: StageCache | None = None,
    indices: dict[str, list[int]] | None = None,
) -> CurveResult:
    """Training loss and test error (clean and at ε) on a grid of cfg.num_t values of t.

    Each point is a fresh model copy with B(t) loaded; its BN statistics (if any) are
    re-estimated with `reestimate_at`. `indices` (optional) records the data subsets used.
    With a runner `cache`, finished points are saved and reused.
    """
    ts = np.linspace(0.0, 1.0, cfg.num_t).tolist()
    fp = _eval_fingerprint(curve, train, test, cfg) if cache is not None else ""
    done = _finished_points(cache, fp)
    todo = [(k, t) for k, t in enumerate(ts) if k not in done]

    def point(kt: tuple[int, float]) -> dict[str, float]:
        return _point_metrics(curve, kt[0], kt[1], train, test, cfg)

    # under torchrun the t-points are dealt out to the ranks and gathered
    rounds = distributed.map_rounds(todo, point)
    for (k, _), values in progress(rounds, "curve points", total=len(todo)):
        done[k] = values
        if cache is not None:
            cache.put(POINTS, fp, {"points": done})
    metrics = {
        f"{s}_{m}": tuple(done[k][f"{s}_{m}"] for k in range(len(ts)))
        for s in ("train", "test")
        for m in METRICS
    }
    provenance = _provenance(curve, train, test, cfg)
    provenance["indices"] = indices
    return CurveResult(cfg, tuple(ts), metrics, tuple(curve.history), provenance)


def _provenance(curve: BezierCurve, train: Split, test: Split, cfg: CurveConfig) -> dict:
    n_bn = min(cfg.bn_examples or train[0].shape[0], train[0].shape[0])
    inputs = "clean" if cfg.attack.eps == 0 else "PGD (eval mode, after a clean re-estimate)"
    bn = f"eval; statistics re-estimated per t on the first {n_bn} training inputs, {inputs}"
    return {
        "bn_mode": bn if has_batchnorm(curve.template) else "no BatchNorm",
        "train_bn_mode": cfg.train_bn_mode,
        "attack_bn_mode_training": cfg.attack_bn_mode,
        "attack": attack_text(cfg.attack, cfg.attack_loss),
        "seeds": "training: Generator(seed); point k: SeedSequence([seed, k])",
        "n_train": int(train[0].shape[0]),
        "n_test": int(test[0].shape[0]),
    }


def _point_metrics(
    curve: BezierCurve, k: int, t: float, train: Split, test: Split, cfg: CurveConfig
) -> dict[str, float]:
    """All metrics at B(t), point k of the grid (seeded by SeedSequence([seed, k]))."""
    gen = torch.Generator().manual_seed(
        int(np.random.SeedSequence([cfg.seed, k]).generate_state(1)[0])
    )
    model = curve.model_at(t)
    if has_batchnorm(model):
        reestimate_at(model, *train, cfg, gen)
    out = {}
    for split, data in (("train", train), ("test", test)):
        clean = _measure(model, data, cfg, gen, robust=False)
        adv = _measure(model, data, cfg, gen, robust=True) if cfg.attack.eps > 0 else clean
        for name, value in zip(METRICS, (*adv, *clean), strict=True):
            out[f"{split}_{name}"] = value
    return out


def _eval_fingerprint(curve: BezierCurve, train: Split, test: Split, cfg: CurveConfig) -> str:
    settings = {k: v for k, v in asdict(cfg).items() if k != "checkpoint_every"}
    return fingerprint(settings, [*curve.state_dict().values(), *train, *test])


def _finished_points(cache: StageCache | None, fp: str) -> dict[int, dict[str, float]]:
    """Points of an earlier call with the same fingerprint (none without a cache)."""
    rec = cache.get(POINTS, fp) if cache is not None else None
    if cache is None or rec is None:
        return {}
    done = {int(k): v for k, v in rec["points"].items()}
    cache.note(POINTS, f"reusing {len(done)} finished curve points in {{path}}")
    return done


def curve_table(result: CurveResult) -> str:
    m = result.metrics
    lines = [
        f"{'t':>6} {'train loss':>11} {'train err%':>11} {'test err%':>10} {'clean test%':>12}"
    ]
    for k, t in enumerate(result.t):
        lines.append(
            f"{t:6.3f} {m['train_loss'][k]:11.4f} {m['train_error'][k]:11.2f} "
            f"{m['test_error'][k]:10.2f} {m['test_clean_error'][k]:12.2f}"
        )
    return "\n".join(lines)


def print_curve_table(result: CurveResult) -> None:
    print(curve_table(result))


def save_curve(result: CurveResult, curve: BezierCurve, out_dir: str | Path) -> None:
    """curve.json (metrics, provenance), curve.pt (all points; framed by the checkpoint
    integrity header: load it with `advland.runs.checkpoint.load_verified`),
    curve_figure.png/pdf/json."""
    job = Job("curve", out_dir)
    job.write_json("curve.json", result.to_dict())
    state = {"state_dict": curve.state_dict(), "config": asdict(result.config)}
    if job.main:  # rank 0 only under torchrun
        save_verified(job.path("curve.pt"), state)
    job.figure("advland.reporting.plot_curve:plot_curve", [result], job.path("curve_figure"))
