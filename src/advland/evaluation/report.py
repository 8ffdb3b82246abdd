"""Evaluate a run's final model, its PAS members and the snapshot ensemble on the test split.

Shared by the end of `train` and by `advland evaluate`, so both write the same summary.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advland.config import RunConfig
from advland.data import Splits
from advland.evaluation.api import seeded_subset, worst_case
from advland.evaluation.ensemble import SnapshotEnsemble
from advland.evaluation.masking import masking_diagnostics
from advland.evaluation.robust import EvalResult, robust_evaluate
from advland.evaluation.sanity import result_checks, sanity_checks
from advland.evaluation.suites import SUITES, WEAKER
from advland.runs.checkpoint import load_weights
from advland.runs.model import build_run_model
from advland.runs.rundir import checkpoint_dir


def test_tensors(cfg: RunConfig, splits: Splits) -> tuple[torch.Tensor, torch.Tensor]:
    """The test split, or its seeded subset of `eval.limit` points (seed `eval.seed`)."""
    x, y = splits.test.x, splits.test.y
    idx = seeded_subset(y.shape[0], cfg.eval.limit, cfg.eval.seed)
    return x[idx], y[idx]


def evaluate_suite(
    cfg: RunConfig,
    model: nn.Module,
    x,
    y,
    suite: str,
    *,
    device,
    log: Callable[[str], None],
    diagnose: bool = True,
) -> dict:
    """Evaluate one model (or ensemble) with `suite`, at the run's attack budget, plus the
    sanity checks (`advland.evaluation.sanity`).

    `diagnose` adds the ε = 0 check and the gradient-masking diagnostics
    (`advland.evaluation.masking`). PAS members skip both: the final model and the ensemble
    run them, and a member differs from the final model only in its weights, so the checks
    that concern the attack code or the wrapper (an attack that ignores ε, a randomised
    forward pass) are already made; skipping them keeps a PAS evaluation affordable (the ε = 0
    check runs the whole suite on points it cannot break).
    """
    res = robust_evaluate(model, x, y, suite=suite, **_budget(cfg, device))
    weaker = [robust_evaluate(model, x, y, suite=w, **_budget(cfg, device)) for w in WEAKER[suite]]
    kw = dict(batch_size=cfg.eval.batch_size, device=device, weaker=weaker)
    checks = (
        sanity_checks(model, x, y, res, eps0_points=cfg.eval.eps0_points, **kw)
        if diagnose
        else result_checks(model, x, y, res, **kw)
    )
    for c in checks:
        if not c["passed"]:
            level = c.get("level", "error").upper()
            log(f"{level}: sanity check '{c['name']}' failed: {c['detail']}")
    warnings, measured = _diagnose(cfg, model, x, y, res, device) if diagnose else ([], {})
    for w in warnings:
        log(f"WARNING: possible gradient masking ({w['name']}): {w['detail']}; see {w['doc']}")
    out = res.to_dict()
    # The reported number: per point, the worst case over every attack run on the model.
    out["broken_by"] = worst_case([res, *weaker])
    out["suite_robust_error"] = res.robust_error
    out["robust_error"] = 100.0 * sum(b != "" for b in out["broken_by"]) / max(res.n, 1)
    out["sanity"] = checks
    out["weaker"] = {w.suite: w.robust_error for w in weaker}
    out["warnings"] = warnings
    out["diagnostics"] = measured
    return out


def _budget(cfg: RunConfig, device) -> dict:
    """`robust_evaluate`'s keywords for the run: its attack's ε and norm, the eval settings."""
    return dict(
        eps=cfg.attack.eps,
        norm=cfg.attack.norm,
        batch_size=cfg.eval.batch_size,
        seed=cfg.eval.seed,
        device=device,
    )


def _diagnose(cfg: RunConfig, model, x, y, res: EvalResult, device) -> tuple[list[dict], dict]:
    return masking_diagnostics(
        model,
        x,
        y,
        eps=cfg.attack.eps,
        norm=cfg.attack.norm,
        zero_grad_fraction=res.zero_grad_fraction,
        batch_size=min(cfg.eval.batch_size, 256),
        seed=cfg.eval.seed,
        device=device,
    )


def evaluate_run_models(
    cfg: RunConfig,
    run_dir: Path,
    splits: Splits,
    model: nn.Module,
    *,
    snapshots: list[str],
    suite: str,
    device: torch.device,
    log: Callable[[str], None],
) -> dict:
    """Final model, and for PAS runs every period snapshot and their ensemble."""
    x, y = test_tensors(cfg, splits)
    result: dict[str, Any] = {
        "final": evaluate_suite(cfg, model, x, y, suite, device=device, log=log)
    }
    if snapshots:
        members = []
        for name in snapshots:
            m = build_run_model(cfg, splits, device)
            load_weights(m, checkpoint_dir(run_dir) / name)
            members.append(m.eval())
        result |= evaluate_pas(
            cfg, model, result["final"], members, x=x, y=y, suite=suite, device=device, log=log
        )
    return result


def evaluate_pas(
    cfg: RunConfig, final_model, final: dict, members, *, x, y, suite: str, device, log
):
    """{"members": each period snapshot's result, "ensemble": their ensemble's}. A snapshot
    with the final model's weights (the last period ends with the run) reuses the final
    model's result: the same model on the same points with the same seed."""
    results = [
        final
        if same_weights(m, final_model)
        else evaluate_suite(cfg, m, x, y, suite, device=device, log=log, diagnose=False)
        for m in members
    ]
    ens = SnapshotEnsemble(members).eval()
    ensemble = evaluate_suite(cfg, ens, x, y, suite, device=device, log=log)
    return {"members": results, "ensemble": ensemble}


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Equal parameters and buffers, key by key."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def summary_fields(evaluation: dict, suite: str) -> dict:
    """The evaluation's keys of summary.json, from an `evaluate_run_models` result."""
    final = evaluation["final"]
    out = {
        "clean_error": final["clean_error"],
        "robust_error": final["robust_error"],
        "attack": final["attack"],
        "suite": suite,
        "eps": final["eps"],
        "norm": final["norm"],
        "n_test": final["n"],
        "suite_errors": {suite: final["suite_robust_error"], **final["weaker"]},
        "warnings": all_warnings(evaluation),
    }
    if "ensemble" in evaluation:
        ens = evaluation["ensemble"]
        out["ensemble"] = {
            "clean_error": ens["clean_error"],
            "robust_error": ens["robust_error"],
            "members": [
                {"clean_error": m["clean_error"], "robust_error": m["robust_error"]}
                for m in evaluation["members"]
            ],
        }
    return out


def all_warnings(evaluation: dict) -> list[dict]:
    """Masking warnings of every evaluated model, each tagged with the model it concerns."""
    named = [("final", evaluation["final"])]
    named += [(f"snapshot {i}", m) for i, m in enumerate(evaluation.get("members", []))]
    if "ensemble" in evaluation:
        named.append(("ensemble", evaluation["ensemble"]))
    return [w | {"model": name} for name, r in named for w in r.get("warnings", [])]


def failed_errors(evaluation: dict) -> list[str]:
    """Names of failed error-level sanity checks over all evaluated models."""
    results = [evaluation["final"], *evaluation.get("members", [])]
    if "ensemble" in evaluation:
        results.append(evaluation["ensemble"])
    return [
        c["name"]
        for r in results
        for c in r["sanity"]
        if not c["passed"] and c.get("level", "error") == "error"
    ]


SUITE_STRENGTH = {name: i for i, name in enumerate(SUITES)}
