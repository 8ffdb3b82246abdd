"""Files derived from config values stay inside the run directory."""

from __future__ import annotations

import pytest
import torch

from advland import build_config
from advland.cli import main
from advland.errors import UserError
from advland.runs.checkpoint import Generators, load_newest_intact, save_checkpoint
from support import ROOT, lenet


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".", "", "~x", "a\\b"])
def test_run_name_must_be_a_plain_folder_name(name):
    with pytest.raises(UserError, match="plain folder name"):
        build_config("configs/quickstart.yaml", [f"name={name}"])


def test_cli_rejects_escaping_name_with_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    cfg = str(ROOT / "configs/quickstart.yaml")
    assert main(["train", "--config", cfg, "--set", "name=../../escaped"]) == 2
    err = capsys.readouterr().err.strip()
    assert "name=" in err and "\n" not in err
    assert list(tmp_path.rglob("*")) == [tmp_path / "runs"]


def test_checkpoint_with_escaping_snapshot_name_is_rejected(tmp_path):
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    save_checkpoint(
        tmp_path / "latest.pt",
        model=model,
        optimizer=opt,
        epoch=1,
        gens=Generators.seeded(0),
        snapshots=["../../evil.pt"],
        config={},
    )
    logs: list[str] = []
    with pytest.raises(UserError, match="no intact checkpoint"):
        load_newest_intact(tmp_path, logs.append)
    assert any("invalid snapshot name" in m for m in logs)
