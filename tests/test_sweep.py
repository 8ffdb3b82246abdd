"""Sweeps run real `advland` processes: finished runs are skipped, killed ones resumed,
diverged ones reported (not fatal), and `reproduce` + `report` work end to end."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advland.experiments import items_dynamics, items_hessian
from advland.experiments.jobs import AnalysisJob, TrainJob, run_dir_of
from advland.experiments.recipe import Plan, Recipe
from advland.experiments.runner import reproduce
from advland.experiments.sweep import run_sweep, train_command
from advland.experiments.watch import Watch, run_state, status_line
from advland.fileio import read_jsonl
from support import cli_env, run_cli

TINY = (
    "data.name=mnist-5k",
    "data.train_limit=300",
    "data.test_limit=100",
    "data.val_size=0",
    "train.val_every=0",
    "model.width=1",
    "attack.steps=2",
    "train.batch_size=100",
    "eval.batch_size=100",
    "train.epochs=2",
)


def job(eps: float, seed: int = 0, *extra: str) -> TrainJob:
    sets = (*TINY, f"attack.eps={eps}", f"attack.step_size={eps / 4 or 0.01}", *extra)
    return TrainJob("quickstart.yaml", (*sets, f"train.seed={seed}"),
                    (("task", "mnist"), ("eps", eps), ("seed", seed)))  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # 2 workers × 1 thread, whatever the host
    monkeypatch.setattr("advland.experiments.executors.local.usable_cores", lambda: 2)


def test_watch_reports_each_run_from_its_own_files(tmp_path):
    j = job(0.1)
    name = j.key.rsplit("-", 1)[0]
    assert status_line(tmp_path, [j], {j.key: 2}, 0.0) == f"[0.0 min] {name}: queued"
    lines: list[str] = []
    with Watch(tmp_path, [j], {j.key: 2}, lines.append, every=0.2):
        run_sweep(tmp_path, [j], [], 1, lines.append)
    assert any(line.startswith("[") and " min] " in line for line in lines)  # it spoke meanwhile
    assert status_line(tmp_path, [j], {j.key: 2}, 90.0) == "[1.5 min] all runs finished"
    # the same run's files as they stood after epoch 1, then after the last epoch
    run = run_dir_of(tmp_path, j)
    (run / "summary.json").unlink()
    metrics = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text(metrics[0] + "\n" + '{"epoch": 2, "trai')  # mid-write
    state = run_state(run, 2)
    assert state.startswith("epoch 1/2, ") and " img/s, training ETA " in state, state
    (run / "metrics.jsonl").write_text("\n".join(metrics) + "\n")
    assert run_state(run, 2) == "evaluating"


def test_sweep_skips_finished_runs_and_reports_divergence(tmp_path):
    diverging = job(0.0, 0, "optim.name=sgd", "optim.lr=1e30", "train.dynamics=off")
    jobs = [job(0.1), diverging]
    lines: list[str] = []
    first = {o.name: o.status for o in run_sweep(tmp_path, jobs, [], 2, lines.append)}
    assert first == {jobs[0].key: "completed", diverging.key: "diverged"}
    assert any("ETA" in line for line in lines)  # progress lines with an ETA
    again = run_sweep(tmp_path, jobs, [], 2, lines.append)
    assert {o.status for o in again} == {"completed", "diverged"}
    assert all(o.seconds == 0.0 and o.detail == "already finished" for o in again)


SWEEP_SCRIPT = """
import json, sys
from pathlib import Path
from advland.cli.common import sigterm_as_interrupt
from advland.experiments.jobs import TrainJob
from advland.experiments.sweep import run_sweep, train_command
from advland.experiments.watch import Watch, run_state, status_line
sigterm_as_interrupt()
job = TrainJob("quickstart.yaml", tuple(sys.argv[3:]), tuple(map(tuple, json.loads(sys.argv[2]))))
try:
    run_sweep(Path(sys.argv[1]), [job], [], 1)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_interrupted_sweep_stops_its_runs_and_resumes_them(tmp_path):
    j = job(0.1, 0, "train.epochs=30")
    cmd = [sys.executable, "-c", SWEEP_SCRIPT, str(tmp_path), json.dumps(j.tags), *j.overrides]
    # Started like `nohup advland reproduce … &`: SIGINT ignored, so the sweep must use SIGTERM.
    sweep = subprocess.Popen(cmd, env=cli_env(), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # fmt: skip
    run = run_dir_of(tmp_path, j)
    deadline = time.monotonic() + 300
    while not (run / "checkpoints" / "latest.pt").exists():
        assert time.monotonic() < deadline and sweep.poll() is None, "the run never checkpointed"
        time.sleep(0.5)
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=120) == 130
    log = (tmp_path / "logs" / f"{j.key}.log").read_text()
    assert "interrupted; resume with" in log  # the run itself stopped cleanly
    done = [m["epoch"] for m in read_jsonl(run / "metrics.jsonl")]
    assert 1 <= len(done) < 30 and not (run / "summary.json").exists()
    assert train_command(tmp_path, j) == ["train", "--resume", str(run)]  # resumed, not restarted


def _small_hessian(job: AnalysisJob) -> AnalysisJob:
    """The recipe's own Hessian job, on a smaller problem (top 5 on 64 examples)."""
    small = ("--set", "subset_size=64", "--set", "num_random_models=2", "--set", "k=5")
    return dataclasses.replace(job, argv=(*job.argv, *small))


def test_reproduce_and_report_end_to_end(tmp_path):
    runs = (job(0.0, 0, "train.dynamics=all"), job(0.3, 0, "train.dynamics=all"))

    def plan(scale: str, root: Path) -> Plan:
        hessian = tuple(_small_hessian(items_hessian.hessian_job(root, j, scale)) for j in runs)
        return Plan(train=runs, analyses=hessian, settings={"window": 3}, seeds=(0,))

    def summarize(ctx):
        a, b = items_dynamics.FIG8.summarize(ctx), items_hessian.FIG9.summarize(ctx)
        return type(a)(a.figures + b.figures, a.tables + b.tables, a.claims + b.claims)

    recipe = Recipe("fig9", "tiny", "claim", plan, summarize, {"quick": "-", "full": "-"})
    result = reproduce(recipe, "quick", tmp_path, workers=2, log=lambda s: None)
    assert result["runs"] == {
        "total": 2, "completed": 2, "diverged": 0, "sanity-failed": 0, "failed": 0}  # fmt: skip
    assert result["failed_jobs"] == []
    # one seed leaves no spread to judge: every verdict is inconclusive (stats' rule family)
    assert len(result["claims"]) == 6 and {c["verdict"] for c in result["claims"]} == {
        "inconclusive"}  # fmt: skip
    for fig in result["figures"]:
        assert (tmp_path / "fig9" / fig).stat().st_size > 1000
    on_disk = json.loads((tmp_path / "fig9" / "result.json").read_text())
    assert on_disk["claims"] == result["claims"]
    assert len(on_disk["tables"][0]["rows"]) == 2  # one spectrum per ε
    proc = run_cli("report", str(tmp_path), check=True)
    assert "report.html" in proc.stdout
    md = (tmp_path / "report.md").read_text()
    assert "fig9" in md and "not run" in md  # the other items are listed as not run

    # The recipe is edited (other Hessian settings): its old outputs are not reused.
    first = _small_hessian(items_hessian.hessian_job(tmp_path, runs[0], "quick"))
    edited = dataclasses.replace(first, argv=(*first.argv, "--set", "k=4"))
    assert first.is_done(tmp_path) and first.recorded(tmp_path) == first.command(tmp_path)
    assert edited.is_stale(tmp_path) and not edited.is_done(tmp_path)
    (outcome,) = run_sweep(tmp_path, (), (edited,), workers=1, log=lambda s: None)
    assert outcome.status == "completed" and edited.is_done(tmp_path)
    spectrum = json.loads((tmp_path / edited.out / "spectrum.json").read_text())
    assert len(spectrum["eigenvalues"]) == 4  # recomputed with the edited settings
    assert (tmp_path / (edited.out + ".stale") / "spectrum.json").is_file()  # set aside
    # An output from before job.json existed is accepted as it is.
    (tmp_path / edited.out / "job.json").unlink()
    assert first.is_done(tmp_path) and not first.is_stale(tmp_path)
