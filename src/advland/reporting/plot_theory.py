"""Figures of the `theory` tool: Fig. 5 sketch, Theorem 3 eigenvalues, multi-class collapse,
version-space shrinkage.

Each function takes the plain data dict the tool produced and a path stem, and writes
`<stem>.png`, `<stem>.pdf` and `<stem>.json` (the plotted data) atomically; it returns the
three paths. matplotlib is imported lazily and used through the Agg canvas directly, so no
global pyplot backend is switched.
"""

from __future__ import annotations

from pathlib import Path

from advland.reporting.figure import new_figure, save_figure


def plot_sketch(data: dict, stem: Path) -> list[Path]:
    """Fig. 5: vanilla g (red), the band of g(x', theta) (light blue), g_eps (blue); below,
    d g_eps / d theta with its jump at theta = 0."""
    panels = data["panels"]
    fig, ax = new_figure(2, len(panels), (4.2 * len(panels), 6.0))
    theta = data["theta"]
    for j, p in enumerate(panels):
        top, bottom = ax[0][j], ax[1][j]
        top.fill_between(
            theta,
            p["band_low"],
            p["adversarial"],
            color="lightblue",
            alpha=0.6,
            label="g(x', θ), |x'-x| ≤ ε",
        )
        top.plot(theta, data["vanilla"], color="red", label="g(x, θ)")
        top.plot(theta, p["adversarial"], color="blue", label="g_ε(x, θ)")
        top.set_title(f"x = {data['x']:g}, ε = {p['eps']:g}")
        top.set_xlabel("θ")
        top.legend(fontsize=8)
        neg = [i for i, t in enumerate(theta) if t < 0]
        pos = [i for i, t in enumerate(theta) if t > 0]
        for idx in (neg, pos):  # draw each side separately so the jump is not bridged
            bottom.plot([theta[i] for i in idx], [p["grad"][i] for i in idx], color="blue")
        bottom.set_xlabel("θ")
        bottom.set_ylabel("d g_ε / dθ")
        bottom.set_title(f"jump at θ = 0: {p['jump']:.3g} (= 2ε·sigmoid(0))", fontsize=9)
    return save_figure(fig, data, stem)


def plot_theorem3(data: dict, stem: Path) -> list[Path]:
    """Largest and smallest eigenvalue of the eq. 29 Hessian vs eps, eps_hat marked."""
    fig, ax = new_figure(1, 2, (9.0, 3.6))
    for a, key, title in (
        (ax[0][0], "lambda_max", "largest"),
        (ax[0][1], "lambda_min", "smallest"),
    ):
        a.plot(data["eps"], data[key], marker="o", ms=3)
        a.axvline(data["eps_hat"], color="gray", ls="--", label="ε̂ (separability margin)")
        a.set_xlabel("ε")
        a.set_title(f"{title} eigenvalue of ∇²L_ε(w) (eq. 29)", fontsize=10)
        a.legend(fontsize=8)
    return save_figure(fig, data, stem)


def plot_collapse(data: dict, stem: Path) -> list[Path]:
    """Multi-class: centered ||W|| and adversarial loss vs eps with the thresholds marked."""
    fig, ax = new_figure(1, 2, (9.5, 3.8))
    eps = data["eps"]
    ax[0][0].plot(eps, data["centered_norm"], marker="o", ms=3)
    ax[0][0].set_ylabel("‖W − mean column‖_F")
    ax[0][1].plot(eps, data["loss"], marker="o", ms=3)
    ax[0][1].axhline(data["log_K"], color="black", lw=0.8, label="log K")
    ax[0][1].set_ylabel("adversarial loss L_ε(W)")
    marks = [
        ("eps_star", "exact ε* (collapse)", "red", "-"),
        ("empirical_threshold", "empirical collapse", "green", ":"),
        ("eps_bar_clean_median", "eq. 13 ε̄ at clean W (median)", "purple", "--"),
        ("eps_bar_clean_max", "eq. 13 ε̄ at clean W (max)", "orange", "--"),
    ]
    for a in (ax[0][0], ax[0][1]):
        for key, label, color, ls in marks:
            if data.get(key) is not None:
                a.axvline(data[key], color=color, ls=ls, lw=1, label=label)
        a.set_xlabel("ε")
    ax[0][1].legend(fontsize=7)
    return save_figure(fig, data, stem)


def plot_version_space(data: dict, stem: Path) -> list[Path]:
    """Fraction of sampled W in V_eps (per data point and for the whole dataset) vs eps."""
    fig, ax = new_figure(1, 1, (5.0, 3.6))
    a = ax[0][0]
    a.plot(data["eps"], data["per_point_fraction"], marker="o", ms=3, label="per data point")
    a.plot(data["eps"], data["dataset_fraction"], marker="s", ms=3, label="whole dataset")
    a.set_xlabel("ε")
    a.set_ylabel("fraction of sampled W in V_ε")
    a.set_title("W ~ N(0, I) samples (Proposition 1)", fontsize=10)
    a.legend(fontsize=8)
    return save_figure(fig, data, stem)
