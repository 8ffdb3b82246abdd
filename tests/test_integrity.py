"""Result files carry a checksum verified on load (advland.fileio; docs/reliability.md).

JSON objects end with a "sha256" field over the canonical JSON of the other fields, NPZ
archives hold a "sha256" array over the other arrays, torch results use the checkpoint
header. Damaged or edited files give a one-line UserError naming the file through the
Python API (the CLI cases, exit code 2, are in test_bad_inputs.py); files without a
checksum still load.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import advland
from advland.analysis.hessian.spectrum import SpectrumConfig, hessian_spectrum
from advland.analysis.landscape.curve_eval import evaluate_curve
from advland.analysis.landscape.curves import CurveConfig, train_curve
from advland.analysis.landscape.surface import SurfaceConfig, loss_surface
from advland.attacks.spec import AttackConfig
from advland.errors import UserError
from advland.fileio import atomic_write_json, atomic_write_npz, read_json, read_npz
from advland.runs.checkpoint import load_verified
from support import TINY, lenet, random_images


def _one_line_error(exc: pytest.ExceptionInfo, path, *needles: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and f"'{path}'" in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


def _edit_json(path, key, value) -> None:
    """Change one value, keeping the stored checksum (as a hand edit would)."""
    rec = json.loads(path.read_text())
    rec[key] = value
    path.write_text(json.dumps(rec, indent=2))


def _edit_npz(path, key) -> None:
    arrays = dict(np.load(path))
    arrays[key] = arrays[key] + 1  # the stored "sha256" array is kept
    np.savez(path, **arrays)


def test_json_checksum_round_trip_layout_independent_and_tamper_evident(tmp_path):
    path = tmp_path / "r.json"
    obj = {"b": torch.tensor([1.5, 2.0]), "a": {"x": float("nan"), "3": [1, None]}, "s": "é"}
    atomic_write_json(path, obj)
    on_disk = json.loads(path.read_text())
    assert list(on_disk)[-1] == "sha256" and list(on_disk)[:3] == ["b", "a", "s"]
    back = read_json(path)
    assert "sha256" not in back and back["b"] == [1.5, 2.0] and math.isnan(back["a"]["x"])
    path.write_text(json.dumps(on_disk, sort_keys=True))  # reformatted: still verifies
    assert read_json(path)["s"] == "é"
    atomic_write_json(path, read_json(path) | {"s": "new"})  # rewritten: fresh checksum
    assert read_json(path)["s"] == "new"
    _edit_json(path, "s", "edited")
    with pytest.raises(UserError) as e:
        read_json(path, rerun="rerun X")
    _one_line_error(e, path, "checksum mismatch", "delete it and rerun X")


def test_json_without_checksum_loads_and_broken_json_is_a_user_error(tmp_path):
    old = tmp_path / "old.json"
    old.write_text('{"robust_error": 50.0}')  # written by an older advland
    assert read_json(old) == {"robust_error": 50.0}
    atomic_write_json(tmp_path / "list.json", [1, 2])  # only objects carry a checksum
    assert read_json(tmp_path / "list.json") == [1, 2]
    torn = tmp_path / "torn.json"
    torn.write_text('{"robust_error": 5')
    with pytest.raises(UserError) as e:
        read_json(torn)
    _one_line_error(e, torn, "not valid JSON")
    with pytest.raises(UserError) as e:
        read_json(tmp_path / "missing.json")
    _one_line_error(e, tmp_path / "missing.json", "not found")


def test_npz_checksum_round_trip_and_damage(tmp_path):
    path = tmp_path / "r.npz"
    arrays = {"v": np.arange(6.0).reshape(2, 3), "name": np.asarray("abc"), "k": np.int64(3)}
    atomic_write_npz(path, arrays)
    with np.load(path) as z:  # an ordinary archive for any other tool
        assert set(z.files) == {"v", "name", "k", "sha256"}
    back = read_npz(path)
    assert set(back) == {"v", "name", "k"}
    np.testing.assert_array_equal(back["v"], arrays["v"])
    _edit_npz(path, "v")
    with pytest.raises(UserError) as e:
        read_npz(path)
    _one_line_error(e, path, "checksum mismatch")
    atomic_write_npz(path, arrays)
    path.write_bytes(path.read_bytes()[:-60])  # truncated
    with pytest.raises(UserError) as e:
        read_npz(path)
    _one_line_error(e, path, "is corrupt")
    np.savez(path, v=np.ones(2))  # no checksum (older advland): loads unchecked
    assert read_npz(path)["v"].tolist() == [1.0, 1.0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("integrity") / "run"
    cfg = advland.build_config("configs/quickstart.yaml", [*TINY, "train.epochs=1", "device=cpu"])
    advland.train(cfg, run, log=lambda s: None)
    return run


def test_evaluate_refuses_a_tampered_summary_before_any_work(tiny_run):
    summary = tiny_run / "summary.json"
    assert read_json(summary)["status"] == "completed"  # the run's own summary verifies
    _edit_json(summary, "robust_error", 0.0)
    before = {p: p.read_bytes() for p in tiny_run.rglob("*") if p.is_file()}
    with pytest.raises(UserError) as e:
        advland.evaluate(tiny_run, "quick", limit=20)
    _one_line_error(e, summary, "checksum mismatch", f"advland train --resume {tiny_run}")
    assert {p: p.read_bytes() for p in tiny_run.rglob("*") if p.is_file()} == before


def test_tampered_partial_surface_and_spectrum_are_refused(tmp_path):
    model, (x, y) = lenet(), random_images(8)
    cfg = SurfaceConfig(
        n1=2,
        n2=2,
        eps=(0.1,),
        attack=AttackConfig(eps=8 / 255, steps=1),
        batch_size=8,
        points_per_batch=4,
    )
    loss_surface(model, (x, y), cfg, out_dir=tmp_path / "surf")
    assert read_json(tmp_path / "surf/surface.json")["loss"]
    _edit_npz(tmp_path / "surf/surface.npz", "loss")
    with pytest.raises(UserError) as e:
        loss_surface(model, (x, y), cfg, out_dir=tmp_path / "surf")
    _one_line_error(e, tmp_path / "surf/surface.npz", "checksum mismatch")

    # step 2.5·ε/steps (Madry et al.)
    attack = AttackConfig(eps=0.1, steps=1, step_size=2.5 * 0.1 / 1)
    spec = SpectrumConfig(k=1, subset_size=8, attack=attack, num_random_models=1)
    out = tmp_path / "spec"
    hessian_spectrum(model, x, y, spec, model_factory=lambda s: lenet(), out_dir=out)
    assert read_json(out / "spectrum.json")["fingerprint"]
    assert read_npz(out / "spectrum.npz")["fingerprint"]
    _edit_npz(out / "spectrum.npz", "eigenvalues")
    with pytest.raises(UserError) as e:
        hessian_spectrum(model, x, y, spec, model_factory=lambda s: lenet(), out_dir=out)
    _one_line_error(e, out / "spectrum.npz", "checksum mismatch")


def test_curve_files_are_framed_and_verified(tmp_path):
    a, b = lenet(), lenet()
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.1)
    x, y = random_images(8)
    cfg = CurveConfig(order=2, epochs=1, batch_size=4, attack=AttackConfig(eps=0.0), num_t=2)
    curve = train_curve(a, b, (x, y), cfg, checkpoint=tmp_path / "curve-train.pt")
    evaluate_curve(curve, (x, y), (x, y), cfg, out_dir=tmp_path)
    saved = load_verified(tmp_path / "curve.pt")
    assert saved["config"]["order"] == 2 and read_json(tmp_path / "curve.json")["t"] == [0, 1]
    data = bytearray((tmp_path / "curve-train.pt").read_bytes())
    data[-5] ^= 1
    (tmp_path / "curve-train.pt").write_bytes(bytes(data))
    with pytest.raises(UserError) as e:
        train_curve(a, b, (x, y), cfg, checkpoint=tmp_path / "curve-train.pt")
    _one_line_error(e, tmp_path / "curve-train.pt", "SHA-256")
    with pytest.raises(UserError) as e:  # another curve's training is never reused
        train_curve(a, b, (x, y), cfg, checkpoint=tmp_path / "curve.pt")
    _one_line_error(e, tmp_path / "curve.pt", "another curve")
