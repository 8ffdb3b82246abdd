"""The verdict rule family (`experiments.stats`), one rule for both arms of a comparison,
and earlier rule versions kept visible in result.json and the report.

Synthetic numbers with known answers: each rule is tested in the claimed direction, the
opposite one, and within noise (inconclusive).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from advland.experiments import paper
from advland.experiments.items_table1 import cells, scheduler_claims
from advland.experiments.jobs import TrainJob
from advland.experiments.recipe import RunResult
from advland.experiments.stats import (
    Arm,
    arm,
    combine,
    directional,
    ensemble_errors,
    errors,
    flat,
    trend,
)
from advland.reporting.report import build_report

# ---------------------------------------------------------------- directional


def test_welch_rule_both_ways_and_inconclusive():
    # Δ = 10, SE = sqrt(1/3 + 1/3) = 0.82: far beyond 2·SE
    t = directional([1, 2, 3], [11, 12, 13])
    assert t.verdict == "reproduced" and t.diff == pytest.approx(10.0)
    assert t.se == pytest.approx(math.sqrt(2 / 3))
    assert directional([11, 12, 13], [1, 2, 3]).verdict == "not reproduced"
    # means in the claimed direction (Δ = 1) but the arms overlap: 2·SE = 1.63 > 1
    t = directional([1, 2, 3], [2, 3, 4])
    assert (t.verdict, t.means_verdict) == ("inconclusive", "reproduced")


def test_welch_se_against_the_formula():
    a, b = [50.0, 62.0, 71.0, 55.0], [40.0, 45.0, 43.0]
    t = directional(b, a)
    se = math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    assert t.se == pytest.approx(se) and t.diff == pytest.approx(np.mean(a) - np.mean(b))


def test_every_seed_pair_decides_when_the_se_does_not():
    # Δ = 2.67 < 2·SE = 3.27, yet every value of one arm beats every value of the other
    low, high = [0.0, 0.1, 0.2], [0.3, 0.4, 7.5]
    t = directional(low, high)
    assert t.diff < 2 * t.se and t.every and t.verdict == "reproduced"
    assert "every seed pair agrees" in t.text()
    back = directional(high, low)  # the same data read the other way: a reversal, said so
    assert back.verdict == "not reproduced" and back.against and not back.every
    assert "every seed pair reversed" in back.text()


def test_paired_rule_uses_the_per_seed_differences():
    # Seeds differ a lot, but each seed moves up by 1 ± 0.1: paired says reproduced,
    # Welch (ignoring the pairing) cannot tell
    low = [10.0, 20.0, 30.0]
    high = [11.1, 20.9, 31.0]
    paired = directional(low, high, paired=True)
    assert paired.verdict == "reproduced"
    assert paired.se == pytest.approx(np.std([1.1, 0.9, 1.0], ddof=1) / math.sqrt(3))
    assert directional(low, high).verdict == "inconclusive"
    assert directional(high, low, paired=True).verdict == "not reproduced"
    with pytest.raises(ValueError, match="equal lengths"):
        directional([1, 2], [1, 2, 3], paired=True)


def test_one_seed_or_no_data():
    assert directional([1.0], [5.0]).verdict == "inconclusive"  # no spread to judge
    assert directional([], [5.0]).verdict == "not run"
    assert directional([1.0, float("nan")], [5.0, 6.0]).verdict == "not run"


def test_an_arm_says_its_n_once_and_its_exceptions_when_present():
    assert Arm([86.0, 82.0, 90.0]).text() == "86.00 ± 4.00 (n=3)"
    mixed = Arm([86.0, 82.0, 90.0], diverged=1, sanity_failed=1)
    assert mixed.text() == (
        "86.00 ± 4.00 (n=3; 1 diverged → 90%; 1 sanity-failed, counted as measured)"
    )
    assert Arm([], missing=2).text() == "- (n=0; 2 missing)"


def test_combine():
    assert combine(["reproduced", "reproduced"]) == "reproduced"
    assert combine(["reproduced", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "not reproduced"]) == "not reproduced"
    assert combine(["reproduced", "not run"]) == "not run"
    assert combine([]) == "not run"


# ---------------------------------------------------------------- trend and flat


def _three(v: float, d: float = 0.1) -> list[float]:
    return [v - d, v, v + d]


def test_trend_rule_both_ways_and_inconclusive():
    grows = [_three(1.0), _three(2.0), _three(3.0)]
    assert trend(grows, increasing=True).verdict == "reproduced"
    assert trend(grows, increasing=False).verdict == "not reproduced"
    # end to end up, but the middle step is within noise: one of two steps is not enough
    noisy = [[1.0, 1.2, 0.8], [1.1, 2.5, 0.2], [3.0, 3.1, 2.9]]
    t = trend(noisy, increasing=True)
    assert t.end.verdict == "reproduced" and t.verdict == "inconclusive"
    # any step clearly reversed: not a monotone trend
    dip = [_three(1.0), _three(3.0), _three(2.0), _three(4.0)]
    assert trend(dip, increasing=True).verdict == "not reproduced"
    assert trend([_three(1.0)], increasing=True).verdict == "not run"


def test_flat_rule_both_ways_and_inconclusive():
    assert flat([0.1, -0.3, 0.2], tol=1.0).verdict == "reproduced"
    assert flat([6.0, 7.0, 8.0], tol=1.0).verdict == "not reproduced"
    assert flat([-6.0, -7.0, -8.0], tol=1.0).verdict == "not reproduced"
    # one seed beyond the tolerance, the others inside: cannot tell
    assert flat([0.1, 0.2, 3.0], tol=1.0).verdict == "inconclusive"
    assert flat([0.1], tol=1.0).verdict == "inconclusive"


# ---------------------------------------------------------------- one rule for both arms


def _run(task: str, sched: str, periodic: bool, seed: int, summary: dict) -> RunResult:
    tags = (("task", task), ("scheduler", sched), ("periodic", periodic), ("seed", seed))
    return RunResult(TrainJob("x.yaml", (f"train.seed={seed}",), tags), Path("r"), summary)


def _done(robust: float, clean: float = 20.0, ensemble: float | None = None) -> dict:
    out = {"status": "completed", "robust_error": robust, "clean_error": clean}
    if ensemble is not None:
        out["ensemble"] = {"robust_error": ensemble, "clean_error": clean}
    return out


class _Runs:
    """The part of a recipe context that `cells` reads: its runs."""

    def __init__(self, runs: list[RunResult]):
        self._runs = runs

    def runs(self) -> list[RunResult]:
        return self._runs


def _pas_runs(diverged_arm: str) -> list[RunResult]:
    """CIFAR ResNet rows, 3 seeds; seed 2 of `diverged_arm` ("plain" or "pas") diverged."""
    task = "cifar10-resnet18"
    runs = []
    for sched in paper.SCHEDULERS:
        for seed in range(3):
            plain = {"status": "diverged"} if diverged_arm == "plain" and seed == 2 else None
            pas = {"status": "diverged"} if diverged_arm == "pas" and seed == 2 else None
            runs.append(_run(task, sched, False, seed, plain or _done(55.0 + seed)))
            runs.append(_run(task, sched, True, seed, pas or _done(50.0, ensemble=49.0 + seed)))
    return runs


def test_a_diverged_run_counts_the_same_in_both_arms_of_the_pas_claim():
    task = "cifar10-resnet18"
    for where in ("plain", "pas"):
        found = cells(_Runs(_pas_runs(where)))
        plain = found[(task, "cosine", False)][1]
        pas = found[(task, "cosine", True)][1]
        hit, other = (plain, pas) if where == "plain" else (pas, plain)
        # the diverged run enters its arm at chance (90%), in either arm; nothing is dropped
        assert hit.n == other.n == 3 and hit.diverged == 1 and other.diverged == 0
        assert 90.0 in hit.values
        claim = scheduler_claims(found, [task])[1]
        assert "1 diverged → 90%" in claim["evidence"]
    # with the diverged run in the PAS arm, the PAS mean rises to (49 + 50 + 90) / 3 = 63
    # above the plain 56: the claim is no longer reproduced (rule 1 dropped it: 49.5 < 56)
    found = cells(_Runs(_pas_runs("pas")))
    assert found[(task, "linear", True)][1].values == [49.0, 50.0, 90.0]
    assert scheduler_claims(found, [task])[1]["verdict"] != "reproduced"
    found = cells(_Runs(_pas_runs("plain")))
    assert scheduler_claims(found, [task])[1]["verdict"] == "reproduced"


def test_errors_and_ensemble_errors_share_one_rule():
    runs = [
        _run("t", "cosine", True, 0, _done(50.0, ensemble=45.0)),
        _run("t", "cosine", True, 1, {"status": "diverged"}),
        _run("t", "cosine", True, 2, {**_done(52.0, ensemble=47.0), "status": "sanity-failed"}),
        _run("t", "cosine", True, 3, {"status": "failed"}),
    ]
    assert errors(runs) == [50.0, 90.0, 52.0]
    assert ensemble_errors(runs, "robust_error") == [45.0, 90.0, 47.0]
    a = arm(runs, ensemble=True)
    assert (a.diverged, a.sanity_failed, a.missing) == (1, 1, 1)
    assert a.counts() == "n=3 (1 diverged → 90%, 1 sanity-failed, counted as measured, 1 missing)"


# ---------------------------------------------------------------- earlier rule versions


def _bowl_surface(curvature: float, far: float) -> dict:
    """A 9×9 loss surface: quadratic next to θ with `curvature`, `far` farther out."""
    a = np.linspace(-0.5, 0.5, 9)
    r2 = a[:, None] ** 2 + a[None, :] ** 2
    loss = np.where(r2 <= 0.125**2 * 2 + 1e-9, 0.5 * curvature * r2, far)
    return {"loss": [loss.tolist()]}


def test_a_change_of_rule_keeps_the_earlier_verdict_visible(tmp_path):
    from advland.experiments.items_landscape import _surface_claim

    # The local rise grows with ε on every seed; the whole-grid mean (rule 1) does not.
    found = {
        eps: {s: _bowl_surface(c * (1 + 0.02 * s), far) for s in range(3)}
        for eps, c, far in ((0.0, 10.0, 6.0), (0.1, 50.0, 5.0), (0.2, 150.0, 5.5))
    }
    c = _surface_claim("mnist", found)
    assert c["verdict"] == "reproduced"
    earlier = {e["rule_version"]: e["verdict"] for e in c["earlier"]}
    assert earlier == {1: "not reproduced", 2: "reproduced"}
    # ... and the report shows it beside the current verdict, with the reason
    result = _result_json("fig12", [c], inconclusive=True)
    path = tmp_path / "fig12" / "result.json"
    path.parent.mkdir()
    path.write_text(json.dumps(result), encoding="utf-8")
    md, html = build_report(tmp_path, items=paper.ITEMS)
    text = md.read_text(encoding="utf-8")
    assert "under rule v1 (rule 1: the whole-grid mean rise" in text
    assert "): not reproduced — changed because the loss saturates" in text
    assert "**inconclusive**" in text and "1/2 reproduced, 1 inconclusive" in text
    assert "config v2: quick MNIST ε sweep" in text and "recorded, not re-run" in text
    page = html.read_text(encoding="utf-8")
    assert "under rule v1" in page and 'class="badge v-inconclusive"' in page


def _result_json(item: str, claims: list[dict], inconclusive: bool) -> dict:
    from advland.experiments.registry import RECIPES

    recipe = RECIPES[item]
    if inconclusive:
        claims = [*claims, {"claim": "x", "verdict": "inconclusive", "evidence": "Δ=1, 2·SE=2"}]
    return {
        "item": item,
        "title": recipe.title,
        "claim": recipe.claim,
        "scale": "quick",
        "settings": {},
        "seeds": [0, 1, 2],
        "rule_version": recipe.rule_version,
        "config_version": recipe.config_version,
        "families": list(recipe.families),
        "history": recipe.changes("quick"),
        "figures": [],
        "claims": claims,
        "runs": {"total": 9, "completed": 9, "diverged": 0, "failed": 0},
        "wall_s": 1.0,
        "hardware": {"cpu": "test cpu", "cores": 2, "gpu": None},
        "versions": {},
        "finished": "2026-12-02T00:00:00Z",
    }


def test_table1_reports_autoattack_with_its_subset_and_pgd20_beside_it():
    from advland.experiments.items_table1 import _suite_table, labels

    def aa(robust: float, quick: float) -> dict:
        return {
            **_done(robust),
            "suite": "autoattack",
            "n_test": 100,
            "suite_errors": {"autoattack": robust - 1.0, "quick": quick},
        }

    runs = [
        _run("mnist-lenet", s, False, seed, aa(60.0 + seed, 50.0 + seed))
        for s in paper.SCHEDULERS
        for seed in range(3)
    ]
    t = _suite_table(_Runs(runs), labels("quick"))
    assert t["columns"][3] == "robust error % (autoattack, n=100 test points)"
    assert t["rows"][0][3:] == ["61.00 ± 1.00 (n=3)", "51.00 ± 1.00 (n=3)"]


def test_sanity_failed_runs_are_counted_apart_from_failed_ones():
    from advland.experiments.stats import status_counts
    from advland.reporting.report_items import runs_line

    runs = [
        _run("t", "cosine", False, 0, _done(50.0)),
        _run("t", "cosine", False, 1, {**_done(51.0), "status": "sanity-failed"}),
        _run("t", "cosine", False, 2, {"status": "failed"}),
    ]
    counts = status_counts(runs)
    assert counts == {"total": 3, "completed": 1, "diverged": 0, "sanity-failed": 1, "failed": 1}
    assert runs_line(counts) == (
        "1/3 completed, 0 diverged, 1 sanity-failed (counted as measured), 1 failed"
    )
