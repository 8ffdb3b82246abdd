"""Import-path names: `model.name: pkg.mod:fn` and `data.name: pkg.mod:fn` in the CLI and
in the processes a sweep starts; a bad import path is a one-line error, exit 2."""

from __future__ import annotations

import pytest
import torch

from advland.config import build_config
from advland.errors import UserError
from advland.fileio import read_json
from advland.runs.checkpoint import load_file
from advland.runs.model import build_run_model
from support import TINY, run_cli

FAST = [
    "--set=train.epochs=1",
    "--set=data.train_limit=200",
    "--set=data.test_limit=100",
    "--set=attack.steps=1",
    "--set=eval.limit=50",
]


def test_reproduce_trains_a_model_the_registry_does_not_know(tmp_path):
    proc = run_cli(
        "reproduce",
        "fig4",
        "--only=scheduler=cosine",
        "--only=lr=0.001",
        "--only=seed=0",
        "--workers=1",
        f"--out={tmp_path}",
        "--set=model.name=tests.fixtures:tiny_cnn",
        "--set=model.kwargs={width: 3}",
        *FAST,
    )
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 1, proc.stdout + proc.stderr
    cfg = build_config(runs[0] / "config.yaml")
    assert cfg.model.name == "tests.fixtures:tiny_cnn" and cfg.model.kwargs == {"width": 3}
    assert read_json(runs[0] / "summary.json")["status"] == "completed"
    weights = load_file(runs[0] / "checkpoints" / "latest.pt")["model"]
    assert weights["features.0.weight"].shape == (3, 1, 3, 3)  # TinyCNN, width 3


def test_train_with_import_path_model_and_data(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(
        "train",
        "--config=configs/quickstart.yaml",
        *[f"--set={s}" for s in TINY],
        "--set=model.name=tests.fixtures:tiny_cnn",
        "--set=data.name=tests.fixtures:build",
        "--set=data.kwargs={n_train: 150, n_test: 50}",
        *FAST[:1],
        f"--out={out}",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "streaming DataLoader" in proc.stdout + proc.stderr
    summary = read_json(out / "summary.json")
    assert summary["status"] == "completed" and summary["n_test"] == 50


@pytest.mark.parametrize(
    "setting, message",
    [
        ("model.name=no_such_pkg.models:net", "cannot import module 'no_such_pkg.models'"),
        ("model.name=tests.fixtures:no_such_fn", "has no attribute 'no_such_fn'"),
        ("data.name=tests.fixtures:nothing", "has no attribute 'nothing'"),
        ("model.name=tests.fixtures:Digits", "not a torch.nn.Module"),
    ],
)
def test_bad_import_path_is_one_line_exit_2(tmp_path, setting, message):
    out = tmp_path / "run"
    proc = run_cli("train", "--config=configs/quickstart.yaml", f"--set={setting}", f"--out={out}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not out.exists()


def test_registered_models_reject_kwargs():
    cfg = build_config("configs/quickstart.yaml", ["model.kwargs={depth: 3}"])
    with pytest.raises(UserError, match="only for import-path models"):
        build_run_model(cfg, _splits(), torch.device("cpu"))


def _splits():
    from advland.data import DataConfig, load_splits

    return load_splits(DataConfig(name="mnist-5k", train_limit=100, test_limit=50))


def test_import_path_resolves_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "my_pkg").mkdir()
    (tmp_path / "my_pkg" / "nets.py").write_text(
        "import torch.nn as nn\n"
        "def net(num_classes, in_channels, image_size, hidden=5):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size**2, num_classes))\n"
    )
    monkeypatch.chdir(tmp_path)
    from advland.models import build_model

    m = build_model("my_pkg.nets:net", width=1, num_classes=7, in_channels=1, image_size=4)
    assert m(torch.zeros(2, 1, 4, 4)).shape == (2, 7)


def test_model_with_wrong_output_shape_is_one_line_exit_2(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(
        "train",
        "--config=configs/quickstart.yaml",
        "--set=model.name=tests.fixtures:flat_model",
        f"--out={out}",
    )
    assert proc.returncode == 2 and "[N, classes]" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()


def test_data_import_path_with_values_outside_unit_range_is_one_line_exit_2(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(
        "train",
        "--config=configs/quickstart.yaml",
        "--set=data.name=tests.fixtures:bad_range",
        f"--out={out}",
    )
    assert proc.returncode == 2 and "outside [0,1]" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()
