"""The `theory` tool: check the paper's linear-model theory numerically.

`theory_checks(cfg)` is the pure core: it runs every check on generated float64 data and
returns a `TheoryResult` (per check: name, claim, measured numbers, passed; and the data of
the figures). Each check draws from its own generator seeded by `cfg.seed + k`, so results do
not depend on the order the checks run in. The checks live in `checks_binary`,
`checks_multiclass` and `checks_sketch`.

`run_theory(cfg, out_dir)` is the edge: it runs the core through the analysis job runner,
writes `theory.json` and the figures, and prints a short table.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch

from advland.analysis.runner import Job
from advland.analysis.theory.checks_binary import check_logistic, check_theorem3
from advland.analysis.theory.checks_multiclass import check_multiclass
from advland.analysis.theory.checks_sketch import check_sketch
from advland.analysis.theory.config import TheoryConfig
from advland.analysis.theory.result import TheoryFigures, TheoryResult
from advland.device import pick_device


def theory_checks(cfg: TheoryConfig) -> TheoryResult:
    """Run every check; nothing is written or printed."""
    dev = pick_device(cfg.device)
    with torch_threads(cfg.threads):
        logistic = check_logistic(cfg, dev)
        thm3, thm3_data = check_theorem3(cfg, dev)
        mcc, collapse_data, vs_data = check_multiclass(cfg, dev)
        skc, sketch_data = check_sketch(cfg, dev)
    figures = TheoryFigures(
        sketch=sketch_data, theorem3=thm3_data, collapse=collapse_data, version_space=vs_data
    )
    return TheoryResult(checks=(*logistic, *thm3, *mcc, *skc), figures=figures, device=str(dev))


def run_theory(cfg: TheoryConfig, out_dir: str | Path, *, echo: bool = True) -> dict:
    """Run every check, write `theory.json` and the figures under `out_dir`; returns the record."""
    job = Job("theory", out_dir, resume=False, verbose=echo)
    result = theory_checks(cfg)
    figures = _write_figures(result.figures, Path(out_dir))
    record = {
        "tool": "theory",
        "config": asdict(cfg),
        "env": {"torch": torch.__version__, "device": result.device, "dtype": "float64"},
        "all_passed": result.all_passed,
        "checks": [c.to_dict() for c in result.checks],
        "figures": [p.name for p in figures],
        "elapsed_s": job.elapsed,
    }
    record = _finite(record)
    job.write_json("theory.json", record)
    job.show(format_table(record))
    return record


def _write_figures(figures: TheoryFigures, out: Path) -> list[Path]:
    from advland.reporting import plot_theory  # lazy: matplotlib only when figures are made

    return [
        *plot_theory.plot_sketch(figures.sketch, out / "fig5_sketch"),
        *plot_theory.plot_theorem3(figures.theorem3, out / "theorem3_hessian_eigenvalues"),
        *plot_theory.plot_collapse(figures.collapse, out / "multiclass_collapse"),
        *plot_theory.plot_version_space(figures.version_space, out / "version_space"),
    ]


@contextmanager
def torch_threads(n: int):
    """Set torch's intra-op thread count for the block and restore it afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _finite(obj):
    # strict JSON has no Infinity/NaN (p = inf appears in the config): write them as strings
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _max(d: dict) -> float:
    return max(abs(v) for v in d.values())


def _at_eps_hat(m: dict) -> float:
    inside = [v for e, v in zip(m["eps"], m["lambda_max"], strict=True) if e <= m["eps_hat"]]
    return inside[-1]


# the few numbers per check that the printed table shows
_HEADLINES = {
    "logistic_closed_form_vs_brute_force": lambda m: (
        f"max err {_max(m['max_abs_err_vs_brute_force']):.1e}"
    ),
    "logistic_grad_hessian_vs_autograd": lambda m: (
        f"max err {max(_max(m['grad_max_abs_err']), _max(m['hessian_max_abs_err'])):.1e}"
    ),
    "logistic_closed_form_vs_pgd": lambda m: f"max gap {_max(m['closed_minus_pgd_max']):.1e}",
    "theorem3_hessian_monotone": lambda m: (
        f"lambda_max {m['lambda_max'][0]:.3f} -> {_at_eps_hat(m):.3f} on [0, eps_hat="
        f"{m['eps_hat']:.3f}]"
    ),
    "multiclass_exact_linf_loss": lambda m: (
        f"exact {m['mean_exact']:.4f} >= pgd {m['mean_pgd']:.4f} >= eq.13 {m['mean_eq13']:.4f}"
    ),
    "multiclass_zero_model_is_log_K": lambda m: f"max err {m['max_abs_err']:.1e}",
    "version_space_shrinks_prop1": lambda m: (
        f"fraction {m['per_point_fraction'][0]:.3f} -> {m['per_point_fraction'][-1]:.3f}"
    ),
    "multiclass_collapse_theorem1": lambda m: (
        f"eps* {m['exact_threshold_eps_star']:.3f}, collapsed from {m['empirical_threshold']}"
    ),
    "eps_bar_bound_eq13": lambda m: (
        f"eps_bar(clean W) median {m['eps_bar_at_clean_W']['median']:.3f} "
        f"max {m['eps_bar_at_clean_W']['max']:.3f}"
    ),
    "sketch_kink_fig5": lambda m: "jump " + ", ".join(f"{j:.3f}" for j in m["jump"]),
    "theorem2_gradient_bound": lambda m: (
        "late |grad| " + ", ".join(f"{v:.3f}" for v in m["late_mean_grad_norm"])
    ),
}


def format_table(record: dict) -> str:
    """A short fixed-width table: one line per check with its key numbers."""
    lines = [f"{'check':<36} {'passed':<6} key numbers"]
    for c in record["checks"]:
        head = _HEADLINES.get(c["name"], lambda m: "")(c["measured"])
        lines.append(f"{c['name']:<36} {'yes' if c['passed'] else 'NO':<6} {head}")
    lines.append(f"all passed: {record['all_passed']}  ({record['elapsed_s']:.1f} s)")
    return "\n".join(lines)
