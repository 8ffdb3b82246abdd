"""Evaluation along a trained Bezier curve (paper C.2.5, Fig. 15): metrics on a t-grid.

Each point B(t) is a fresh model copy; its BatchNorm statistics are re-estimated on the
kind of inputs the curve was trained on (`reestimate_at`, see `advland.analysis.landscape.curves`),
then loss and error are measured in eval mode, clean and at the curve's ε.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from advland.analysis.batchnorm import has_batchnorm, reestimate_bn
from advland.analysis.resume import fingerprint
from advland.fileio import atomic_write_json, read_json, remove_stale_temps
from advland.runs.checkpoint import save_verified

if TYPE_CHECKING:
    from advland.analysis.landscape.curves import BezierCurve, CurveConfig

Split = tuple[torch.Tensor, torch.Tensor]
METRICS = ("loss", "error", "clean_loss", "clean_error")


@dataclass(frozen=True)
class CurveResult:
    """Metrics along t: "{train,test}_{loss,error,clean_loss,clean_error}" (error in %).

    "loss"/"error" are at the curve's ε (robust; equal to clean when ε = 0).
    """

    config: CurveConfig
    t: tuple[float, ...]
    metrics: dict[str, tuple[float, ...]]
    history: tuple[dict, ...] = ()
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "t": list(self.t),
            "metrics": {k: list(v) for k, v in self.metrics.items()},
            "history": list(self.history),
            "provenance": self.provenance,
        }


def _chunks(x: torch.Tensor, bs: int, dev) -> Iterable[torch.Tensor]:
    return (x[i : i + bs].to(dev) for i in range(0, x.shape[0], bs))


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
    if cfg.eps == 0:
        return xs
    adv = [
        cfg.attack(model, xb, yb, generator, model_mode="eval")
        for xb, yb in zip(_chunks(xs, bs, dev), _chunks(ys, bs, dev), strict=True)
    ]
    reestimate_bn(model, adv)
    return torch.cat(adv)


def _measure(model: nn.Module, data: Split, cfg: CurveConfig, generator, robust: bool):
    """(mean cross-entropy, error %) over a split in eval mode, at PGD examples if robust."""
    dev, (x, y) = next(model.parameters()).device, data
    loss, wrong = 0.0, 0
    for xb, yb in zip(
        _chunks(x, cfg.eval_batch_size, dev), _chunks(y, cfg.eval_batch_size, dev), strict=True
    ):
        if robust:
            xb = cfg.attack(model, xb, yb, generator, model_mode="eval")
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
    """Training loss and test error (clean and at ε) on a grid of cfg.num_t values of t.

    Each point is a fresh model copy with B(t) loaded; its BN statistics (if any) are
    re-estimated with `reestimate_at`. `indices` (optional) records the data subsets used.
    With `out_dir`, each point's metrics go to curve_points.json as soon as they are known
    and a rerun with the same curve, data and settings skips the finished points (each
    point has its own seed, so the result does not depend on where it was interrupted).
    """
    ts = np.linspace(0.0, 1.0, cfg.num_t).tolist()
    cache = Path(out_dir) / "curve_points.json" if out_dir is not None else None
    fp = _eval_fingerprint(curve, train, test, cfg) if cache is not None else ""
    done = _finished_points(cache, fp)
    for k, t in enumerate(tqdm(ts, desc="curve points", leave=False)):
        if k in done:
            continue
        done[k] = _point_metrics(curve, k, t, train, test, cfg)
        if cache is not None:
            atomic_write_json(cache, {"fingerprint": fp, "points": done})
    metrics = {f"{s}_{m}": tuple(done[k][f"{s}_{m}"] for k in range(len(ts)))
               for s in ("train", "test") for m in METRICS}  # fmt: skip
    bn = has_batchnorm(curve.template)
    n_bn = min(cfg.bn_examples or train[0].shape[0], train[0].shape[0])
    inputs = "clean" if cfg.eps == 0 else "PGD (eval mode, after a clean re-estimate)"
    result = CurveResult(
        config=cfg,
        t=tuple(ts),
        metrics=metrics,
        history=tuple(curve.history),
        provenance={
            "bn_mode": (
                f"eval; statistics re-estimated per t on the first {n_bn} training inputs, {inputs}"
                if bn
                else "no BatchNorm"
            ),
            "train_bn_mode": cfg.train_bn_mode,
            "attack_bn_mode_training": cfg.attack_bn_mode,
            "attack": f"PGD-{cfg.steps} {cfg.norm} eps={cfg.eps} step={cfg.alpha} "
            f"start={cfg.random_start} restarts={cfg.restarts} loss={cfg.attack_loss}",
            "seeds": "training: Generator(seed); point k: SeedSequence([seed, k])",
            "n_train": int(train[0].shape[0]),
            "n_test": int(test[0].shape[0]),
            "indices": indices,
        },
    )
    print_curve_table(result)
    if out_dir is not None:
        save_curve(result, curve, out_dir)
    return result


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
        adv = _measure(model, data, cfg, gen, robust=True) if cfg.eps > 0 else clean
        for name, value in zip(METRICS, (*adv, *clean), strict=True):
            out[f"{split}_{name}"] = value
    return out


def _eval_fingerprint(curve: BezierCurve, train: Split, test: Split, cfg: CurveConfig) -> str:
    settings = {k: v for k, v in asdict(cfg).items() if k != "checkpoint_every"}
    return fingerprint(settings, [*curve.state_dict().values(), *train, *test])


def _finished_points(cache: Path | None, fp: str) -> dict[int, dict[str, float]]:
    """Points of an earlier call with the same fingerprint (none without a cache file)."""
    if cache is None:
        return {}
    remove_stale_temps(cache.parent)  # left by a write a kill interrupted
    if not cache.is_file():
        return {}
    rec = read_json(cache, rerun="rerun 'advland analyze curve' (training is reused)")
    if rec.get("fingerprint") != fp:
        return {}
    done = {int(k): v for k, v in rec["points"].items()}
    tqdm.write(f"reusing {len(done)} finished curve points in {cache}")
    return done


def print_curve_table(result: CurveResult) -> None:
    m = result.metrics
    print(f"{'t':>6} {'train loss':>11} {'train err%':>11} {'test err%':>10} {'clean test%':>12}")
    for k, t in enumerate(result.t):
        print(
            f"{t:6.3f} {m['train_loss'][k]:11.4f} {m['train_error'][k]:11.2f} "
            f"{m['test_error'][k]:10.2f} {m['test_clean_error'][k]:12.2f}"
        )


def save_curve(result: CurveResult, curve: BezierCurve, out_dir: str | Path) -> None:
    """curve.json (metrics, provenance), curve.pt (all points; framed by the checkpoint
    integrity header: load it with `advland.runs.checkpoint.load_verified`),
    curve_figure.png/pdf/json."""
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "curve.json", result.to_dict())
    save_verified(
        out_dir / "curve.pt", {"state_dict": curve.state_dict(), "config": asdict(result.config)}
    )
    from advland.reporting.plot_curve import plot_curve  # matplotlib only if saving

    plot_curve([result], out_dir / "curve_figure")
