"""bench_autoattack without running attacks: the reference column is skipped with a note
when fra31/auto-attack is not importable (as in CI), and its ratio becomes a target row."""

from __future__ import annotations

import sys

import torch
from benchmarks import bench_autoattack
from benchmarks.__main__ import targets


def _case(reference: dict) -> dict:
    row = {"attack": "FAB-T-100x9", "points": 3, "broken": 1, "seconds": 2.0, "share": 1.0,
           "torchattacks_s": 4.0, "ratio": 0.5}  # fmt: skip
    return {"model": "LeNet w=4", "n": 4, "suite_s": 2.0, "suite_wall_s": 3.0,
            "clean_error": 25.0, "robust_error": 50.0, "attacks": [row],
            "reference": reference}  # fmt: skip


def test_reference_is_skipped_with_a_note_when_not_importable(monkeypatch):
    monkeypatch.setitem(sys.modules, "autoattack", None)  # `import autoattack` fails
    ref = bench_autoattack.reference_suite(torch.nn.Identity(), torch.zeros(1), torch.zeros(1))
    assert set(ref) == {"skipped"} and "PYTHONPATH" in ref["skipped"]
    text = bench_autoattack.report({"cases": [_case(ref)]})
    assert "reference AutoAttack: skipped" in text
    assert [r[1] for r in targets({"autoattack": {"cases": [_case(ref)]}})] == [
        "LeNet w=4: FAB-T-100x9 / torchattacks"
    ]


def test_a_measured_reference_is_reported_and_judged():
    ref = {"seconds": 4.0, "wall_s": 5.0, "robust_error": 50.0, "points_differ": 0,
           "ratio": 1.25}  # fmt: skip
    text = bench_autoattack.report({"cases": [_case(ref)]})
    assert "robust error 50.0%, 0 of 4 points differ" in text and "= 1.25" in text
    rows = targets({"autoattack": {"cases": [_case(ref)]}})
    assert rows[-1][1] == "LeNet w=4: suite / reference AutoAttack" and rows[-1][-1] == "NO"
