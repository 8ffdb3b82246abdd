"""The Quickstart's table and verdicts on synthetic summaries (no training)."""

from __future__ import annotations

import pytest

from advland.cli.quickstart_report import (
    CHANCE,
    comparisons,
    paired,
    per_seed_rows,
    table_rows,
)


def _summary(clean, robust, *, members=None, ensemble=None, status="completed"):
    s = {"status": status, "clean_error": clean, "robust_error": robust}
    s["suite_errors"] = {"autoattack": robust, "quick": robust - 5}
    if members is not None:
        s["ensemble"] = {
            "clean_error": ensemble[0],
            "robust_error": ensemble[1],
            "members": [{"clean_error": c, "robust_error": r} for c, r in members],
        }
    return s


def _runs(constant, cosine, members, ensemble, seeds=(0, 1, 2)):
    out = {}
    for i, seed in enumerate(seeds):
        out["constant", seed] = _summary(10, constant[i])
        out["cosine", seed] = _summary(5, cosine[i])
        mem = [(6, r) for r in members[i]]
        out["cosine-pas", seed] = _summary(
            6, members[i][-1], members=mem, ensemble=(5, ensemble[i])
        )
    return out


def _verdicts(runs):
    return {c["claim"]: c for c in comparisons(per_seed_rows(runs, 20))}


def test_rows_cover_every_model_and_seed():
    runs = _runs([70, 71, 72], [50, 51, 52], [[60, 55, 53]] * 3, [52, 53, 51])
    rows = per_seed_rows(runs, 20)
    names = [r["model"] for r in rows if r["seed"] == 0]
    assert names == [
        "constant",
        "cosine",
        "cosine-pas snapshot 1",
        "cosine-pas snapshot 2",
        "cosine-pas snapshot 3",
        "cosine-pas ensemble",
    ]
    snap3 = next(r for r in rows if r["model"] == "cosine-pas snapshot 3" and r["seed"] == 0)
    assert snap3["quick %"] == 48 and "epoch 20" in snap3["what"]
    table = table_rows(rows, 3)
    assert table[0]["robust error %"] == "71.00 ± 1.00" and table[0]["n seeds"] == 3


def test_verdicts_follow_the_noise_rule_both_ways():
    clear = _verdicts(_runs([70, 71, 72], [50, 51, 52], [[60, 55, 53]] * 3, [52, 53, 51]))
    assert clear["ε warmup beats constant ε"]["verdict"] == "reproduced"
    assert clear["the PAS ensemble beats or matches its best member"]["verdict"] == (
        "reproduced (matches)"
    )
    reverse = _verdicts(_runs([50, 51, 52], [70, 71, 72], [[60, 55, 53]] * 3, [58, 59, 60]))
    assert reverse["ε warmup beats constant ε"]["verdict"] == "not reproduced"
    assert reverse["the PAS ensemble beats or matches its best member"]["verdict"] == (
        "not reproduced"
    )
    noisy = _verdicts(_runs([60, 50, 55], [50, 60, 56], [[60, 55, 53]] * 3, [52, 53, 51]))
    assert noisy["ε warmup beats constant ε"]["verdict"] == "inconclusive"


def test_a_diverged_run_counts_as_chance_in_either_arm():
    runs = _runs([70, 71, 72], [50, 51, 52], [[60, 55, 53]] * 3, [52, 53, 51])
    runs["constant", 1] = {"status": "diverged"}
    runs["cosine-pas", 2] = {"status": "diverged"}
    rows = per_seed_rows(runs, 20)
    diverged = [r for r in rows if r["status"] == "diverged"]
    assert {r["model"] for r in diverged} == {
        "constant",
        *(f"cosine-pas snapshot {k}" for k in (1, 2, 3)),
        "cosine-pas ensemble",
    }
    assert all(r["robust error %"] == CHANCE for r in diverged)
    v = _verdicts(runs)
    # the diverged PAS run enters the PAS arm at chance, it is not dropped
    assert v["PAS (ensemble) beats ε warmup without resets"]["n"] == 3
    assert v["the PAS ensemble beats or matches its best member"]["n"] == 3
    assert "1 diverged" in table_rows(rows, 3)[0]["what"]


def test_one_seed_gets_no_verdict():
    c = paired("x", better=[50.0], worse=[60.0], labels=("a", "b"))
    assert c["verdict"] == "one seed" and "--seeds 3" in c["line"]


@pytest.mark.parametrize(
    ("better", "worse", "tol", "verdict"),
    [
        ([50, 50, 50], [50.5, 50, 49.5], 1.0, "reproduced (matches)"),
        ([50, 50, 50], [45, 44, 46], 1.0, "not reproduced"),
        ([50, 50, 50], [51, 52, 49], None, "inconclusive"),
        ([50, 50, 50], [53, 54, 52], None, "reproduced"),
    ],
)
def test_paired_rule(better, worse, tol, verdict):
    got = paired("x", better=better, worse=worse, labels=("a", "b"), match_tol=tol)
    assert got["verdict"] == verdict, got["line"]
