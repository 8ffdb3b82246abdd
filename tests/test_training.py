"""End-to-end training: run-directory contract, PAS snapshots + ensemble, divergence, API."""

from __future__ import annotations

import json

import pytest
import torch

from advland import build_config, evaluate, train
from advland.fileio import read_json, read_jsonl
from advland.models import build_model
from advland.runs.checkpoint import Generators, load_file
from advland.training.loop import train_step
from advland.training.setup import build_optimizer, resolve_perf


def test_pas_run_directory_contract(tmp_path, tiny_overrides):
    cfg = build_config(
        "configs/quickstart.yaml",
        [
            *tiny_overrides,
            "train.epochs=4",
            "train.periods=[0,2,4]",
            "eps_schedule.kind=cosine",
            "train.dynamics=all",
        ],
    )
    s = train(cfg, tmp_path / "run")
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "env.json",
        "metrics.jsonl",
        "dynamics.jsonl",
        "summary.json",
        "checkpoints/latest.pt",
        "checkpoints/init.pt",
        "checkpoints/best.pt",
        "checkpoints/snapshot-0.pt",
        "checkpoints/snapshot-1.pt",
    ):
        assert (run / name).is_file(), name
    assert build_config(run / "config.yaml") == cfg
    env = json.loads((run / "env.json").read_text())
    assert env["torch"] == torch.__version__ and "command" in env

    summary = read_json(run / "summary.json")  # verifies and strips the file's checksum
    assert summary == s
    assert summary["status"] == "completed"
    for key in ("clean_error", "robust_error", "attack"):
        assert key in summary
    assert 0 <= summary["clean_error"] <= summary["robust_error"] <= 100
    assert summary["eps"] == cfg.attack.eps and summary["n_test"] == 200
    ens = summary["ensemble"]
    assert len(ens["members"]) == 2 and ens["robust_error"] >= ens["clean_error"]
    # The last snapshot is the final model.
    assert ens["members"][1]["clean_error"] == summary["clean_error"]

    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4]
    assert [m["period"] for m in metrics] == [0, 0, 1, 1]
    # ε restarts at the period boundary (cosine warmup replayed over 2 epochs, ε_max 0.45).
    assert metrics[0]["eps"] == 0.0 and metrics[2]["eps"] == 0.0
    assert metrics[1]["eps"] == pytest.approx(0.5 * 0.45)
    for m in metrics:
        for key in (
            "lr",
            "eps",
            "train_loss",
            "train_error",
            "val_clean_error",
            "val_robust_error",
            "images_per_s",
            "elapsed_s",
            "eta_s",
        ):
            assert key in m
    dyn = read_jsonl(run / "dynamics.jsonl")
    assert len(dyn) == 4 * 10  # 1,000 training digits / batch 100, every batch recorded
    assert dyn[0]["dist_init"] == 0.0 and dyn[-1]["dist_init"] > 0 and dyn[0]["grad_norm"] > 0

    ckpt = load_file(run / "checkpoints/latest.pt")
    assert ckpt["epoch"] == 4 and ckpt["snapshots"] == ["snapshot-0.pt", "snapshot-1.pt"]
    assert set(ckpt["rng"]) >= {"data", "attack", "torch"}


def test_vanilla_training_eps_zero(tmp_path, tiny_overrides):
    cfg = build_config(
        "configs/quickstart.yaml", [*tiny_overrides, "train.epochs=1", "attack.eps=0"]
    )
    s = train(cfg, tmp_path / "run")
    assert s["status"] == "completed" and s["robust_error"] == s["clean_error"]


def test_divergence_stops_cleanly(tmp_path, tiny_overrides):
    cfg = build_config(
        "configs/quickstart.yaml",
        [
            *tiny_overrides,
            "train.epochs=3",
            "optim.name=sgd",
            "optim.lr=1e30",
            "attack.eps=0",
        ],
    )
    s = train(cfg, tmp_path / "run")
    assert s["status"] == "diverged" and "non-finite" in s["cause"]
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["status"] == "diverged"
    assert not (tmp_path / "run/checkpoints/latest.pt").exists()  # no NaN weights saved


def test_evaluate_standard_never_below_quick(tmp_path, tiny_overrides):
    cfg = build_config(
        "configs/quickstart.yaml", [*tiny_overrides, "train.epochs=2", "model.width=2"]
    )
    train(cfg, tmp_path / "run")
    res = evaluate(tmp_path / "run", "standard", limit=100)
    assert res["failed_checks"] == []
    ev = json.loads((tmp_path / "run/eval-standard.json").read_text())["final"]
    assert ev["n"] == 100 and ev["robust_error"] >= ev["weaker"]["quick"]
    checks = {c["name"]: c["passed"] for c in ev["sanity"]}
    assert checks["eps0_equals_clean"] and checks["robust_ge_clean"] and checks["standard_ge_quick"]
    # Robust error after each attack of the suite can only grow.
    after = [a["robust_error"] for a in ev["after_each"]]
    assert after == sorted(after) and after[-1] == ev["suite_robust_error"]
    # The reported number is the per-example worst case over standard and quick.
    assert ev["robust_error"] >= max(ev["suite_robust_error"], ev["weaker"]["quick"])
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["suite"] == "standard" and summary["robust_error"] == res["robust_error"]
    assert set(summary["evaluations"]) == {"standard"}


def test_gpu_speed_switches_run_on_cpu_deterministically(tiny_overrides):
    """bf16 autocast + channels_last (the CUDA defaults) forced on the CPU: one training step
    runs, updates the weights, and is reproducible (what exact resume relies on)."""
    cfg = build_config("configs/quickstart.yaml", [*tiny_overrides, "model.width=1"])
    perf = resolve_perf(
        build_config(None, ["perf.amp=bf16", "perf.channels_last=on"]), torch.device("cpu")
    )
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model("lenet", width=1).to(memory_format=torch.channels_last)
        before = [p.detach().clone() for p in model.parameters()]
        opt = build_optimizer(model, cfg)
        loss, logits = train_step(cfg, model, opt, x, y, 0.3, gens=Generators.seeded(0), perf=perf)
        assert torch.isfinite(loss) and logits.shape == (8, 10)
        assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_training_with_speed_switches_on_completes(tmp_path, tiny_overrides):
    over = ["train.epochs=1", "perf.amp=bf16", "perf.channels_last=on"]
    cfg = build_config("configs/quickstart.yaml", [*tiny_overrides, *over])
    s = train(cfg, tmp_path / "run")
    assert s["status"] == "completed" and 0 <= s["clean_error"] <= s["robust_error"] <= 100
