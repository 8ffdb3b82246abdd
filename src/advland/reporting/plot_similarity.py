"""Figure for perturbation similarity at θ ± a·v (paper Fig. 3 / Fig. 10).

Left: mean cosine similarity of the two perturbations vs a (training set). Right: robust
error vs a (mean of θ+av and θ−av; train filled markers, test hollow). As in the paper, the
top eigenvector is dashed and a random direction solid; one colour per label (typically
one ε). Shaded bands are ± one std over the PGD repeats. Written through
`reporting.figure`: <stem>.png, <stem>.pdf and the plotted numbers as <stem>.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advland.errors import UserError
from advland.reporting.figure import new_figure, save_figure


def _robust(result, split: str) -> tuple[np.ndarray, np.ndarray]:
    per = result.per_repeat
    both = (per[f"robust_error_plus_{split}"] + per[f"robust_error_minus_{split}"]) / 2
    return both.mean(0), both.std(0)


def plot_similarity(
    results: Sequence,
    path: str | Path,
    labels: Sequence[str] | None = None,
    min_train_robust_acc: float | None = None,
) -> list[Path]:
    """Overlay SimilarityResults; `path`'s suffix is replaced. Returns the files written.

    `min_train_robust_acc` (percent): like Fig. 10, hide similarity points where the robust
    training accuracy at θ±av falls below it (θ is then no longer "nearby").
    """
    if not results:
        raise UserError("plot_similarity needs at least one SimilarityResult")
    fig, axes = new_figure(1, 2, (10, 4))
    ax_s, ax_e = axes[0]
    colours: dict[str, str] = {}  # one colour per label, shared by eigenvector and random
    data: dict[str, dict] = {}
    for i, res in enumerate(results):
        label = labels[i] if labels else f"ε={res.config.attack.eps:.4g}"
        eigen = res.config.direction == "top-eigenvector"
        style, colour = ("--" if eigen else "-"), colours.setdefault(label, f"C{len(colours)}")
        name = f"{label} ({'eigenvector' if eigen else 'random'})"
        a = np.asarray(res.a)
        sim, sd = res.mean["similarity_train"], res.std["similarity_train"]
        if min_train_robust_acc is not None:
            sim = np.where(100.0 - _robust(res, "train")[0] >= min_train_robust_acc, sim, np.nan)
        ax_s.plot(a, sim, style, color=colour, marker="o", ms=3, label=name)
        ax_s.fill_between(a, sim - sd, sim + sd, color=colour, alpha=0.15)
        data[name] = {"a": a.tolist(), "similarity_train": sim.tolist(), "std": sd.tolist()}
        for split, marker, face in (("train", "o", colour), ("test", "s", "none")):
            err, esd = _robust(res, split)
            ax_e.plot(
                a, err, style, color=colour, marker=marker, mfc=face, ms=4, label=f"{name} {split}"
            )
            ax_e.fill_between(a, err - esd, err + esd, color=colour, alpha=0.1)
            data[name][f"robust_error_{split}"] = err.tolist()
    ax_s.set(xlabel="a", ylabel="cosine similarity of perturbations (train)", ylim=(None, 1.02))
    ax_e.set(xlabel="a", ylabel="robust error at θ ± a·v (%)")
    ax_s.legend(fontsize=7)
    ax_e.legend(fontsize=6)
    for ax in (ax_s, ax_e):
        ax.grid(alpha=0.3)
    return save_figure(fig, data, Path(path).with_suffix(""))
