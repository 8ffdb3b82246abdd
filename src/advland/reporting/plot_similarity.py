"""Figure for perturbation similarity at θ ± a·v (paper Fig. 3 / Fig. 10).

Left: mean cosine similarity of the two perturbations vs a (training set). Right: robust
error vs a (mean of θ+av and θ−av; train solid markers, test hollow). As in the paper, the
top eigenvector is dashed and a random direction solid; one colour per result label
(typically one ε). Shaded bands are ± one std over the PGD repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advland.fileio import atomic_write_bytes


def _robust(result, split: str) -> tuple[np.ndarray, np.ndarray]:
    per = result.per_repeat
    both = (per[f"robust_error_plus_{split}"] + per[f"robust_error_minus_{split}"]) / 2
    return both.mean(0), both.std(0)


def plot_similarity(
    results: Sequence,
    path: str | Path,
    labels: Sequence[str] | None = None,
    min_train_robust_acc: float | None = None,
) -> None:
    """Plot SimilarityResults on one figure and save it atomically (png/pdf by suffix).

    `min_train_robust_acc` (percent): like Fig. 10, hide similarity points where the robust
    training accuracy at θ±av falls below it (θ is then no longer "nearby").
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_s, ax_e) = plt.subplots(1, 2, figsize=(10, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    by_label: dict[str, str] = {}  # one colour per label, shared by eigenvector and random
    for i, res in enumerate(results):
        cfg = res.config
        label = labels[i] if labels else f"ε={cfg.eps:.4g}"
        style = "--" if cfg.direction == "top-eigenvector" else "-"
        colour = by_label.setdefault(label, colours[len(by_label) % len(colours)])
        a = np.asarray(res.a)
        sim, sd = res.mean["similarity_train"], res.std["similarity_train"]
        if min_train_robust_acc is not None:
            err, _ = _robust(res, "train")
            sim = np.where(100.0 - err >= min_train_robust_acc, sim, np.nan)
        name = f"{label} ({'eigenvector' if style == '--' else 'random'})"
        ax_s.plot(a, sim, style, color=colour, marker="o", ms=3, label=name)
        ax_s.fill_between(a, sim - sd, sim + sd, color=colour, alpha=0.15)
        for split, marker, face in (("train", "o", colour), ("test", "s", "none")):
            err, esd = _robust(res, split)
            ax_e.plot(a, err, style, color=colour, marker=marker, mfc=face, ms=4,
                      label=f"{name} {split}")  # fmt: skip
            ax_e.fill_between(a, err - esd, err + esd, color=colour, alpha=0.1)
    ax_s.set(xlabel="a", ylabel="cosine similarity of perturbations (train)", ylim=(None, 1.02))
    ax_e.set(xlabel="a", ylabel="robust error at θ ± a·v (%)")
    ax_s.legend(fontsize=7)
    ax_e.legend(fontsize=6)
    for ax in (ax_s, ax_e):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
