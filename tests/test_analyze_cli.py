"""Every `advland analyze` tool through the real CLI on a tiny trained run."""

from __future__ import annotations

import json

import pytest

from advland.fileio import read_json
from support import TINY, run_cli


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    for name, seed in (("a", 0), ("b", 1)):
        run_cli(
            "train",
            "--config",
            "configs/quickstart.yaml",
            *[f"--set={s}" for s in TINY],
            "--set=train.epochs=2",
            "--set=train.dynamics=all",
            f"--set=train.seed={seed}",
            "--out",
            str(base / name),
            check=True,
        )
    return base


def test_dynamics_and_hessian(tiny_runs):
    run_cli(
        "analyze",
        "dynamics",
        str(tiny_runs / "a"),
        str(tiny_runs / "b"),
        "--out",
        str(tiny_runs / "dyn"),
        check=True,
    )
    data = json.loads((tiny_runs / "dyn/dynamics.json").read_text())
    assert len(data["runs"]) == 2 and (tiny_runs / "dyn/dynamics.png").is_file()
    assert (tiny_runs / "dyn/learning_curves.png").is_file()

    proc = run_cli(
        "analyze",
        "hessian",
        str(tiny_runs / "a"),
        "--set=subset_size=100",
        "--set=k=3",
        "--set=num_random_models=2",
        check=True,
    )
    out = tiny_runs / "a/analysis/hessian"
    spec = json.loads((out / "spectrum.json").read_text())
    assert len(spec["eigenvalues"]) == 3 and "normalised" in proc.stdout
    assert (out / "spectrum_plot.png").is_file() and (out / "spectrum.npz").is_file()


def test_similarity_surface_curve(tiny_runs):
    a, b = tiny_runs / "a", tiny_runs / "b"
    run_cli(
        "analyze",
        "similarity",
        str(a),
        "--train-n=50",
        "--test-n=50",
        "--set=a=[0,0.5]",
        "--set=repeats=2",
        check=True,
    )
    sim = read_json(a / "analysis/similarity/similarity.json")  # checksum verified, removed
    assert set(sim) == {"top-eigenvector", "random"}
    assert sim["random"]["mean"]["similarity_train"][0] <= 1.0
    run_cli("analyze", "surface", str(a), "--train-n=32", "--set=n1=3", "--set=n2=3", check=True)
    assert list((a / "analysis/surface").glob("*.npz"))
    run_cli(
        "analyze",
        "curve",
        str(a),
        str(b),
        "--train-n=64",
        "--test-n=64",
        "--set=epochs=1",
        "--set=num_t=3",
        check=True,
    )
    curve = json.loads((a / "analysis/curve-b/curve.json").read_text())
    assert len(curve["t"]) == 3


def test_theory_and_errors(tmp_path):
    proc = run_cli("analyze", "theory", "--out", str(tmp_path / "th"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "th/theory.json").read_text())["all_passed"] is True
    bad = run_cli("analyze", "hessian", str(tmp_path), "--set=k=3")
    assert bad.returncode == 2 and "not a run directory" in bad.stderr
    bad = run_cli("analyze", "theory", "--out", str(tmp_path / "x"), "--set=nope=1")
    assert bad.returncode == 2 and "unknown config key 'nope'" in bad.stderr
