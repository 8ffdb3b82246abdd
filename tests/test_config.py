"""Config loading: strict keys, types, ranges, overrides; every shipped recipe is valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from advland.config import RunConfig, apply_overrides, build_config, dump_yaml, from_dict, to_dict
from advland.errors import UserError
from advland.training.setup import Perf, resolve_perf

CONFIGS = sorted(Path("configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_recipe_loads_and_round_trips(path, tmp_path):
    cfg = build_config(path)
    out = tmp_path / "c.yaml"
    out.write_text(dump_yaml(cfg))
    assert build_config(out) == cfg
    assert from_dict(RunConfig, to_dict(cfg)) == cfg


def test_paper_table1_settings():
    for kind in ("constant", "cosine", "linear"):
        c = build_config(f"configs/mnist-lenet-{kind}.yaml")
        assert (c.model.name, c.model.width, c.attack.eps, c.attack.step_size) == (
            "lenet",
            16,
            0.4,
            0.01,
        )
        assert c.attack.steps == round(0.4 / 0.01) + 10
        assert (c.optim.name, c.optim.lr, c.train.epochs, c.train.batch_size) == (
            "adam",
            1e-4,
            100,
            128,
        )
        assert c.eps_schedule.eps_max == {"constant": 0.0, "cosine": 0.6, "linear": 0.8}[kind]
        for arch in ("vgg", "resnet18"):
            for pas in ("", "-pas"):
                c = build_config(f"configs/cifar10-{arch}-{kind}{pas}.yaml")
                assert c.attack.eps == pytest.approx(8 / 255) and c.attack.steps == 10
                assert c.attack.step_size == pytest.approx(c.attack.eps / 4)
                assert c.train.epochs == 200 and c.optim.weight_decay == 1e-3 and c.model.width == 8
                assert c.data.augment == "crop-flip"
                assert c.train.periods == ((0, 100, 150, 200) if pas else ())
                if kind != "constant":
                    assert c.eps_schedule.eps_max == pytest.approx(16 / 255)
                if arch == "vgg":
                    assert (c.optim.name, c.optim.lr, c.lr_schedule.kind) == (
                        "adam",
                        1e-3,
                        "exponential",
                    )
                    assert (c.lr_schedule.final_lr, c.lr_schedule.start, c.lr_schedule.end) == (
                        1e-4,
                        100,
                        150,
                    )
                else:
                    assert (c.optim.name, c.optim.lr, c.optim.momentum, c.optim.nesterov) == (
                        "sgd",
                        0.1,
                        0.9,
                        True,
                    )
                    assert c.lr_schedule.milestones == (100, 150) and c.lr_schedule.gamma == 0.1


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["atack.eps=0.1"], "did you mean 'attack'"),
        (["attack.epss=0.1"], "did you mean 'attack.eps'"),
        (["attack.eps=-0.1"], "attack.eps=-0.1 must be >= 0"),
        (["attack.eps=.nan"], "finite"),
        (["attack.eps=2"], "exceeds the [0,1] pixel range"),
        (["attack.eps=abc"], "'attack.eps' must be a number"),
        (["train.epochs=2.5"], "'train.epochs' must be an integer"),
        (["train.epochs=0"], "must be > 0"),
        (["attack.steps=0"], "attack.steps=0 must be > 0"),
        (["attack.step_size=0"], "attack.step_size=0.0 must be > 0"),
        (["attack.norm=l3"], "attack.norm='l3' is not one of"),
        (["eps_schedule.kind=cosin"], "did you mean 'cosine'"),
        (
            ["train.periods=[0,5]"],
            "train.periods=[0.0, 5.0] must be whole epochs increasing from 0 to train.epochs=20",
        ),
        (["train.periods=5"], "'train.periods' must be a list"),
        (["optim.nesterov=maybe"], "must be true or false"),
        (["eps_schedule.kind=linear", "eps_schedule.eps_max=0"], "eps_max=0.0 must be > 0"),
        (["noequals"], "must look like key=value"),
        (["perf.amp=fp16"], "perf.amp='fp16' is not one of auto, off, bf16"),
        (["perf.amp=on"], "perf.amp='on' is not one of"),
        (["perf.compile=maybe"], "perf.compile='maybe' is not one of auto, on, off"),
        (["eval.eps0_points=0"], "eval.eps0_points=0 must be > 0"),
    ],
)
def test_bad_values_are_one_line_errors(overrides, message):
    with pytest.raises(UserError) as e:
        build_config("configs/quickstart.yaml", overrides)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_overrides_parse_yaml_values():
    d = apply_overrides({}, ["train.periods=[0, 10, 20]", "attack.eps=0.1", "name=x"])
    assert d == {"train": {"periods": [0, 10, 20]}, "attack": {"eps": 0.1}, "name": "x"}
    cfg = build_config("configs/quickstart.yaml", ["train.periods=[0,10,20]", "attack.eps=0.25"])
    assert cfg.train.periods == (0.0, 10.0, 20.0) and cfg.attack.eps == 0.25


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        build_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("attack: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        build_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="mapping"):
        build_config(lst)


def test_perf_switches_resolve_per_device(tmp_path):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    auto = build_config("configs/quickstart.yaml")
    assert resolve_perf(auto, cpu) == Perf(channels_last=True)  # the CPU default: NHWC only
    assert resolve_perf(auto, cuda) == Perf(amp=torch.bfloat16, channels_last=True, compile=True)
    on = build_config(None, ["perf.amp=bf16", "perf.channels_last=on", "perf.compile=on"])
    assert on.perf.channels_last == "on"  # YAML reads `on` as true: kept as the word
    assert resolve_perf(on, cpu) == Perf(amp=torch.bfloat16, channels_last=True, compile=True)
    off = build_config(None, ["perf.amp=off", "perf.channels_last=off", "perf.compile=off"])
    assert resolve_perf(off, cuda) == Perf()
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(on))
    assert build_config(path) == on
