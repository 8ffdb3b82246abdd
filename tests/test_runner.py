"""The shared analysis job runner: fingerprinted stages, corrupt and mismatched files,
result files, figures; and the flat attack settings of tool configs (deprecated)."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

from advland.analysis.runner import Job, Stage, validate_tool
from advland.attacks.spec import AttackConfig, accepts_flat_attack
from advland.errors import UserError
from advland.validation import setting

STAGES = {
    "losses": Stage("losses.json", rerun="rerun it"),
    "grid": Stage("grid.npz", rerun="rerun it", mismatch="{path} holds another grid"),
    "state": Stage("state.pt", rerun="rerun it"),
}


def test_stages_round_trip_and_keep_the_fingerprint_where_asked(tmp_path):
    cache = Job("t", tmp_path, STAGES).cache
    assert cache.get("losses", "fp") is None
    cache.put("losses", "fp", {"losses": {"0": 1.5}})
    assert list(json.loads((tmp_path / "losses.json").read_text())) == [
        "fingerprint",
        "losses",
        "sha256",
    ]
    assert cache.get("losses", "fp") == {"losses": {"0": 1.5}}
    assert cache.get("losses", "other") is None  # recomputed, then overwritten
    cache.put("grid", "fp", {"a": np.arange(3), "fingerprint": None, "b": np.ones(2)})
    assert list(np.load(tmp_path / "grid.npz").files) == ["a", "fingerprint", "b", "sha256"]
    assert cache.get("grid", "fp")["a"].tolist() == [0, 1, 2]
    with pytest.raises(UserError, match=r"grid\.npz holds another grid"):
        cache.get("grid", "other")
    cache.put("state", "fp", {"format": 1, "w": [1.0]})
    assert cache.get("state", "fp") == {"format": 1, "w": [1.0]}


def test_no_resume_no_folder_and_corrupt_files(tmp_path, capsys):
    Job("t", tmp_path, STAGES).cache.put("losses", "fp", {"losses": {}})
    assert Job("t", tmp_path, STAGES, resume=False).cache.get("losses", "fp") is None
    assert Job("t", None, STAGES).cache is None
    (tmp_path / ".losses.json.x1.tmp").write_text("half")
    job = Job("t", tmp_path, STAGES)  # a resumed job removes temps of interrupted writes
    assert not list(tmp_path.glob("*.tmp"))
    job.cache.note("losses", "reusing it in {path}")
    assert f"reusing it in {tmp_path / 'losses.json'}" in capsys.readouterr().out
    (tmp_path / "losses.json").write_text("{")
    with pytest.raises(UserError, match=r"corrupt.*rerun it"):
        job.cache.get("losses", "fp")


def test_results_table_and_figures(tmp_path, capsys):
    job = Job("t", tmp_path, verbose=False)
    job.write_json("r.json", {"x": 1})
    job.write_npz("r.npz", {"x": np.ones(2)})
    assert (tmp_path / "r.json").is_file() and (tmp_path / "r.npz").is_file()
    job.show("table")
    assert capsys.readouterr().out == ""
    drawn = []
    assert job.figure(lambda *a: drawn.append(a) or ["f.png"], 1, 2) == ["f.png"]
    assert drawn == [(1, 2)]

    def missing(*a):
        raise UserError("install advland[plot]")

    with pytest.warns(UserWarning, match="figure skipped"):
        assert job.figure(missing, optional=True) is None
    with pytest.raises(UserError):
        job.figure(missing)
    assert Job("t", None).write_json("r.json", {}).name == "r.json"  # nothing written


@accepts_flat_attack(fields=("eps", "steps", "step_size"))
@dataclass(frozen=True)
class _Tool:
    k: int = setting(2, ge=1)
    kind: str = setting("a", choices=("a", "b"))
    attack: AttackConfig = field(default_factory=lambda: AttackConfig(eps=0.0))

    def __post_init__(self) -> None:
        validate_tool(self)


def test_flat_attack_keywords_fold_into_attack_with_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _Tool().attack.eps == 0.0
    with pytest.warns(DeprecationWarning, match="_Tool: the flat attack settings eps, steps"):
        t = _Tool(eps=0.1, steps=3, attack=AttackConfig(norm="l2"))
    assert t.attack == AttackConfig(norm="l2", eps=0.1, steps=3)
    with pytest.raises(TypeError):
        _Tool(restarts=2)  # not folded for this tool


def test_validate_tool_names_the_field_then_the_value():
    with pytest.raises(UserError, match=r"^k must be >= 1, got 0$"):
        _Tool(k=0)
    with pytest.raises(UserError, match=r"^attack.eps must be >= 0, got -1.0$"):
        _Tool(attack=AttackConfig(eps=-1.0))
    with pytest.raises(UserError, match=r"^kind='c' is not one of a, b"):
        _Tool(kind="c")


def test_cli_tool_config_takes_the_run_attack_and_old_flat_keys(capsys):
    from advland.analysis.hessian.spectrum_types import SpectrumConfig
    from advland.cli.analyze import tool_config
    from advland.validation import to_dict

    run_attack = {"attack": to_dict(AttackConfig(eps=0.3, step_size=0.075, restarts=2))}
    cfg = tool_config(SpectrumConfig, run_attack, ["k=3", "attack.steps=5"])
    assert cfg.attack == AttackConfig(eps=0.3, step_size=0.075, restarts=2, steps=5)
    assert capsys.readouterr().err == ""
    cfg = tool_config(SpectrumConfig, run_attack, ["eps=0.1"])
    assert cfg.attack.eps == 0.1
    assert "--set eps=… is deprecated, use --set attack.eps=…" in capsys.readouterr().err
    with pytest.raises(UserError, match=r"got -1\.0"):
        tool_config(SpectrumConfig, run_attack, ["eps=-1"])
