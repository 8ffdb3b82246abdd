"""Fig. 1 / 8 (per-minibatch gradient norm, robust training error, ‖θ − θ0‖ over the first
and last updates) and Fig. 11 (training-loss learning curves), several ε overlaid."""

from __future__ import annotations

from pathlib import Path

from advland.reporting.figure import new_figure, save_figure


def plot_dynamics(runs: list[dict], stem: Path) -> list[Path]:
    fig, ax = new_figure(1, 4, (17, 3.6))
    panels = [
        ("first", "grad_norm", "‖∇θ L̂ε(θ)‖ (first updates)"),
        ("first", "robust_error", "robust training error % (first)"),
        ("first", "dist_init", "‖θ − θ0‖ (first updates)"),
        ("last", "grad_norm", "‖∇θ L̂ε(θ)‖ (last updates)"),
    ]
    for a, (part, key, title) in zip(ax[0], panels, strict=True):
        for r in runs:
            steps = r[f"{part}_step"]
            x = [s - steps[0] for s in steps]
            a.plot(x, r[f"{part}_{key}"], label=r["label"], lw=0.8)
        a.set_title(title, fontsize=9)
        a.set_xlabel("minibatch update" + (" (from window start)" if part == "last" else ""))
    ax[0][0].legend(fontsize=8)
    return save_figure(fig, {"runs": runs}, stem)


def plot_learning_curves(runs: list[dict], stem: Path) -> list[Path]:
    fig, ax = new_figure(1, 1, (5, 3.6))
    for r in runs:
        ax[0][0].plot(r["epoch"], r["train_loss"], label=r["label"])
    ax[0][0].set_xlabel("epoch")
    ax[0][0].set_ylabel("training loss Lε(θ)")
    ax[0][0].legend(fontsize=8)
    data = [{"label": r["label"], "epoch": r["epoch"], "train_loss": r["train_loss"]} for r in runs]
    return save_figure(fig, {"runs": data}, stem)
