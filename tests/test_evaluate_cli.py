"""`advland evaluate` through `advland.cli.main`: robustness curves (`--eps`) and a user's
import-path model whose output is not [N, classes].

One tiny run is trained per module on a user model named by import path (a package this
test writes and puts on sys.path); a copy of it whose config names a same-weights model
with flattened logits must be refused with one stderr line and exit code 2, with nothing
written. The other cases (unknown suite, bad ε lists, missing checkpoints, corrupt runs)
run through the real entry point in tests/test_bad_inputs.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from advland.cli import main
from support import TINY

PACKAGE = '''
"""A user's models: one linear layer; `Flat` and `OneClass` share `Good`'s weights."""
from torch import nn


class Good(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, image_size=28):
        super().__init__()
        self.fc = nn.Linear(in_channels * image_size * image_size, num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


class Flat(Good):
    def forward(self, x):
        return super().forward(x).flatten()  # [N * classes]


class Wide(Good):
    def forward(self, x):
        return super().forward(x)[:, None, :]  # [N, 1, classes]
'''


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{"good": a trained run of tinymods.models:Good, "flat"/"wide": copies whose config
    names a model with the same weights but logits of the wrong shape}."""
    import advland

    d = tmp_path_factory.mktemp("evalcli")
    (d / "tinymods").mkdir()
    (d / "tinymods" / "__init__.py").write_text("")
    (d / "tinymods" / "models.py").write_text(textwrap.dedent(PACKAGE))
    sys.path.insert(0, str(d))
    try:
        overrides = [s for s in TINY if not s.startswith("model.width")]
        cfg = advland.build_config(
            "configs/quickstart.yaml",
            [*overrides, "model.name=tinymods.models:Good", "train.epochs=1", "device=cpu"],
        )
        advland.train(cfg, d / "good", log=lambda s: None)
        out = {"good": d / "good"}
        for name in ("Flat", "Wide"):
            run = d / name.lower()
            shutil.copytree(d / "good", run)
            text = (run / "config.yaml").read_text()
            assert "tinymods.models:Good" in text
            (run / "config.yaml").write_text(text.replace("models:Good", f"models:{name}"))
            out[name.lower()] = run
        yield out
    finally:
        sys.path.remove(str(d))


def _fingerprint(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("kind", ["flat", "wide"])
@pytest.mark.parametrize("extra", [[], ["--eps", "0.1,0.2"], ["--checkpoint", "latest", "--table"]])
def test_a_model_with_the_wrong_output_shape_is_one_line_exit_2(runs, kind, extra, capsys):
    run = runs[kind]
    before = _fingerprint(run)
    code = main(["evaluate", str(run), "--suite", "quick", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("advland: error:"), err
    assert "[N, classes]" in err[0] and "Traceback" not in err[0]
    assert _fingerprint(run) == before  # nothing written


def test_the_good_model_is_evaluated(runs, capsys):
    """The same package and weights with [N, classes] logits pass the same gate."""
    run = runs["good"]
    code = main(["evaluate", str(run), "--suite", "quick", "--limit", "20"])
    assert code == 0, capsys.readouterr()
    assert json.loads((run / "summary.json").read_text())["n_test"] == 20


def test_curve_mode_runs_the_whole_suite_and_its_checks_at_every_eps(runs, capsys):
    run = runs["good"]
    code = main(["evaluate", str(run), "--eps", "0.2,0,0.1", "--suite", "standard",
                 "--limit", "40"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    curve = json.loads((run / "evaluations" / "standard-latest-linf.json").read_text())
    recs = curve["records"]
    assert [r["eps"] for r in recs] == [0.0, 0.1, 0.2]  # sorted
    for r in recs:
        # The whole chosen suite and the weaker one ran at this ε ...
        assert set(r["suite_errors"]) == {"standard", "quick"}
        assert r["attacks"].startswith("PGD-50x5") and "APGD-DLR-100" in r["attacks"]
        # ... and the number is their per-example worst case.
        broken = [b != "" for b in r["per_example"]["broken_by"]]
        assert r["robust_error"] == 100.0 * sum(broken) / 40
        assert r["robust_error"] >= max(r["suite_errors"].values())
        names = {c["name"] for c in r["sanity"]}
        assert {"robust_ge_clean", "standard_ge_quick", "no_black_box_only",
                "no_zero_gradients"} <= names  # fmt: skip
        assert all(c["passed"] for c in r["sanity"] if c.get("level") != "warning")
    assert recs[0]["robust_error"] == recs[0]["clean_error"]  # ε = 0 breaks nothing more
    assert recs[2]["robust_error"] > recs[0]["robust_error"]
    checks = {c["name"]: c for c in curve["sanity"]}
    assert checks["eps0_equals_clean"]["passed"] and checks["robust_error_grows_with_eps"]["passed"]
    assert curve["failed_checks"] == []
    for ext in (".png", ".pdf"):
        assert (run / "evaluations" / f"robustness-curve-standard-latest-linf{ext}").is_file()
    assert "ε=0.2" in out and "worst case" in out
