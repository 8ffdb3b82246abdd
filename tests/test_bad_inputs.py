"""Bad inputs through the real `advland` entry point: each is one line, exit code 2.

Every case runs in its own process — a fork of the test process running the console
script's `sys.exit(advland.cli.main())` with its own argv, stdout and stderr
(`forking.fork_cli`; a fork starts in milliseconds, a fresh interpreter importing torch
in ≈2.5 s) — and must: exit with code 2, print exactly one stderr line starting with
"advland: error:" that restates the bad value, show no traceback, and leave no partial
output (the target output folder absent, or a folder byte-for-byte unchanged).

The cases need no training except the evaluate/analyze ones, which share one tiny run
trained once per module (in the test process, so every fork inherits the decoded data).
The module fixture runs all cases, two processes at a time; the parametrised tests then
only check the recorded outcomes.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from advland.fileio import atomic_write_npz
from advland.runs.checkpoint import save_verified
from forking import fork_cli
from support import TINY

QS = ["train", "--config", "configs/quickstart.yaml"]
# Bounded work should validation ever let a case through: a 1-epoch tiny run.
SAFE = [*(f"--set={s}" for s in [*TINY, "train.epochs=1", "device=cpu"]), "--out", "{out}"]

# (id, argv with {d} = fixture folder, {run} / {wide} / {broken} / {tampered} / {torn} = run
#  folders, {hess} / {surf} / {curve} = analysis folders holding a damaged partial result,
#  {out} = this case's output target; needle that the error line must contain; what must
#  not change: "out" (the {out} path must not exist) or a folder key (must be unchanged)).
# One case per row: the formatter is off for this table only.
CASES: list[tuple[str, list[str], str, str]] = [
    # --- config values via --set (train --dry-run validates exactly like train)
    ("misspelled-section", [*QS, "--set", "atack.eps=0.1"], "did you mean 'attack'", "out"),
    ("misspelled-key", [*QS, "--set", "attack.epss=0.1"], "did you mean 'attack.eps'", "out"),
    ("misspelled-model", [*QS, "--set", "model.name=lenett"], "did you mean 'lenet'", "out"),
    ("unknown-norm", [*QS, "--set", "attack.norm=l3"], "attack.norm='l3'", "out"),
    ("negative-eps", [*QS, "--set", "attack.eps=-0.1"], "attack.eps=-0.1", "out"),
    ("nan-eps", [*QS, "--set", "attack.eps=nan"], "attack.eps=nan", "out"),
    ("inf-eps", [*QS, "--set", "attack.eps=.inf"], "attack.eps=inf", "out"),
    ("eps-above-range", [*QS, "--set", "attack.eps=2"], "attack.eps=2.0", "out"),
    ("step-size-zero", [*QS, "--set", "attack.step_size=0"], "attack.step_size=0.0", "out"),
    ("steps-zero", [*QS, "--set", "attack.steps=0"], "attack.steps=0", "out"),
    ("steps-fraction", [*QS, "--set", "attack.steps=2.5"], "'attack.steps'", "out"),
    ("epochs-string", [*QS, "--set", "train.epochs=ten"], "'ten'", "out"),
    ("bool-string", [*QS, "--set", "optim.nesterov=maybe"], "'maybe'", "out"),
    ("periods-bad", [*QS, "--set", "train.periods=[0,3]"], "train.periods=[0.0, 3.0]", "out"),
    ("periods-scalar", [*QS, "--set", "train.periods=5"], "'train.periods'", "out"),
    ("width-zero", [*QS, "--set", "model.width=0"], "model.width=0", "out"),
    ("batch-negative", [*QS, "--set", "train.batch_size=-1"], "train.batch_size=-1", "out"),
    ("lr-zero", [*QS, "--set", "optim.lr=0"], "optim.lr=0.0", "out"),
    ("suite-in-config", [*QS, "--set", "eval.suite=strong"], "eval.suite='strong'", "out"),
    ("override-no-equals", [*QS, "--set", "attack"], "'attack'", "out"),
    ("section-not-mapping", [*QS, "--set", "attack=3"], "'attack' must be a mapping", "out"),
    ("cosine-no-eps-max", [*QS, "--set", "eps_schedule.kind=cosine", "--set",
                           "eps_schedule.eps_max=0"], "eps_schedule.eps_max=0.0", "out"),
    ("exp-lr-no-final", [*QS, "--set", "lr_schedule.kind=exponential"], "final_lr=0.0", "out"),
    ("val-without-split", [*QS, "--set", "train.val_every=1"], "train.val_every", "out"),
    ("unknown-device", [*QS, "--set", "device=tpu", "--dry-run"], "'tpu'", "out"),
    ("vgg-on-mnist", [*QS, "--set", "model.name=vgg", "--dry-run"], "image_size", "out"),
    ("unknown-dataset", [*QS, "--set", "data.name=mnist5k", "--dry-run"], "mnist5k", "out"),
    ("missing-npz", [*QS, "--set", "data.name={d}/nope.npz"], "nope.npz", "out"),
    # --- config files
    ("config-missing", ["train", "--config", "{d}/nope.yaml"], "nope.yaml", "out"),
    ("config-not-yaml", ["train", "--config", "{d}/broken.yaml"], "broken.yaml", "out"),
    ("config-list", ["train", "--config", "{d}/list.yaml"], "list.yaml", "out"),
    ("config-typo", ["train", "--config", "{d}/typo.yaml"], "did you mean 'model'", "out"),
    ("config-type", ["train", "--config", "{d}/type.yaml"], "'train.epochs'", "out"),
    # --- datasets (bring-your-own .npz / IDX folder)
    ("npz-corrupt", [*QS, *SAFE, "--set", "data.name={d}/corrupt.npz"], "corrupt.npz", "out"),
    ("npz-missing-keys", [*QS, *SAFE, "--set", "data.name={d}/keys.npz"], "x_train", "out"),
    ("npz-empty", [*QS, *SAFE, "--set", "data.name={d}/empty.npz"], "empty", "out"),
    ("npz-len-mismatch", [*QS, *SAFE, "--set", "data.name={d}/len.npz"], "y_train", "out"),
    ("npz-float-pixels", [*QS, *SAFE, "--set", "data.name={d}/float.npz"], "float32", "out"),
    ("npz-shape-mismatch", [*QS, *SAFE, "--set", "data.name={d}/shape.npz"], "x_test", "out"),
    ("npz-one-class", [*QS, *SAFE, "--set", "data.name={d}/oneclass.npz"], "single", "out"),
    ("npz-unseen-label", [*QS, *SAFE, "--set", "data.name={d}/unseen.npz"], "[10, 11", "out"),
    ("idx-truncated", [*QS, *SAFE, "--set", "data.name={d}/idx-trunc"], "truncated", "out"),
    ("idx-missing", [*QS, *SAFE, "--set", "data.name={d}/idx-missing"], "t10k-labels", "out"),
    # --- output folders and options
    ("out-under-file", [*QS, *SAFE, "--out", "{d}/file.txt/run"], "file.txt", "out"),
    ("out-not-empty", [*QS, *SAFE, "--out", "{d}/full"], "--resume", "full"),
    ("resume-with-config", ["train", "--resume", "{run}", "--config", "configs/quickstart.yaml"],
     "--resume", "run"),
    ("resume-not-run", ["train", "--resume", "{d}"], "not a run directory", "out"),
    ("bad-int-option", ["evaluate", "{run}", "--limit", "many"], "'many'", "run"),
    ("unknown-command", ["trian"], "'trian'", "out"),
    # --- evaluate
    ("eval-not-run", ["evaluate", "{d}"], "not a run directory", "out"),
    ("eval-missing-dir", ["evaluate", "{d}/nope"], "nope", "out"),
    ("eval-unknown-suite", ["evaluate", "{run}", "--suite", "strong"], "'strong'", "run"),
    ("eval-limit-zero", ["evaluate", "{run}", "--limit", "0"], "--limit", "run"),
    ("eval-no-checkpoint", ["evaluate", "{run}", "--checkpoint", "final"], "final.pt", "run"),
    ("eval-other-width", ["evaluate", "{wide}"], "width", "wide"),
    ("eval-corrupt-ckpt", ["evaluate", "{broken}"], "latest.pt", "broken"),
    ("eval-eps-negative", ["evaluate", "{run}", "--eps", "0.1,-0.2"], "-0.2", "run"),
    ("eval-eps-text", ["evaluate", "{run}", "--eps", "0.1,abc"], "'abc'", "run"),
    ("eval-no-snapshot", ["evaluate", "{run}", "--checkpoint", "snapshot-7", "--eps", "0.1"],
     "snapshot-7.pt", "run"),
    ("eval-no-ensemble", ["evaluate", "{run}", "--checkpoint", "ensemble"], "no PAS snapshots",
     "run"),
    ("eval-curve-unknown-suite", ["evaluate", "{run}", "--eps", "0.1", "--suite", "aa"], "'aa'",
     "run"),
    ("eval-bad-device", ["evaluate", "{run}", "--device", "tpu"], "'tpu'", "run"),
    ("eval-tampered-summary", ["evaluate", "{tampered}"], "checksum mismatch", "tampered"),
    ("eval-torn-summary", ["evaluate", "{torn}"], "summary.json' is corrupt", "torn"),
    # --- quickstart
    ("quickstart-epochs-1", ["quickstart", "--epochs", "1", "--out", "{out}"], "--epochs", "out"),
    ("quickstart-seeds-0", ["quickstart", "--seeds", "0", "--out", "{out}"], "--seeds", "out"),
    ("quickstart-bad-set", ["quickstart", "--set", "attack.eps=-1", "--out", "{out}"],
     "attack.eps=-1", "out"),
    ("quickstart-typo", ["quickstart", "--set", "trian.epochs=2", "--out", "{out}"],
     "did you mean 'train'", "out"),
    # --- analyze
    ("analyze-not-run", ["analyze", "hessian", "{d}", "--out", "{out}"], "not a run", "out"),
    ("analyze-unknown-field", ["analyze", "theory", "--set", "sed=1", "--out", "{out}"],
     "did you mean 'seed'", "out"),
    ("analyze-bad-type", ["analyze", "theory", "--set", "thm3_n=lots", "--out", "{out}"],
     "'lots'", "out"),
    ("analyze-negative-eps", ["analyze", "hessian", "{run}", "--set", "eps=-1", "--out",
                              "{out}"], "got -1.0", "out"),
    ("analyze-k-zero", ["analyze", "hessian", "{run}", "--set", "k=0", "--out", "{out}"],
     "got 0", "out"),
    ("analyze-no-out", ["analyze", "theory"], "--out", "out"),
    ("analyze-tampered-spectrum", ["analyze", "hessian", "{run}", "--out", "{hess}", "--set",
                                   "subset_size=50", "--set", "k=1"], "spectrum.npz", "hess"),
    ("analyze-tampered-surface", ["analyze", "surface", "{run}", "--directions", "filter-random",
                                  "--train-n", "20", "--set", "n1=2", "--set", "n2=2", "--out",
                                  "{surf}"], "surface.npz' is corrupt (checksum", "surf"),
    ("analyze-tampered-curve-ckpt", ["analyze", "curve", "{run}", "{run}", "--train-n", "20",
                                     "--out", "{curve}"], "curve-train.pt' fails its SHA", "curve"),
    ("analyze-curve-mismatch", ["analyze", "curve", "{run}", "{wide_ok}", "--out", "{out}"],
     "same model", "out"),
    # --- data
    ("data-unknown-name", ["data", "verify", "mnist-6k"], "'mnist-6k'", "out"),
    ("data-dir-is-file", ["data", "verify", "mnist", "--data-dir", "{d}/file.txt"],
     "file.txt", "out"),
]  # fmt: skip


def _write_files(d: Path) -> None:
    rng = np.random.default_rng(0)

    def imgs(n, h=28, dtype=np.uint8):
        return rng.integers(0, 256, (n, h, h)).astype(dtype)

    def labels(n, k=10):
        return np.arange(n) % k

    (d / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    np.savez(d / "keys.npz", x=imgs(4))
    np.savez(d / "empty.npz", x_train=imgs(0), y_train=labels(0), x_test=imgs(4), y_test=labels(4))
    np.savez(d / "len.npz", x_train=imgs(20), y_train=labels(19), x_test=imgs(4), y_test=labels(4))
    np.savez(
        d / "float.npz",
        x_train=imgs(20, dtype=np.float32),
        y_train=labels(20),
        x_test=imgs(4),
        y_test=labels(4),
    )
    np.savez(
        d / "shape.npz", x_train=imgs(20), y_train=labels(20), x_test=imgs(4, 32), y_test=labels(4)
    )
    np.savez(
        d / "oneclass.npz",
        x_train=imgs(20),
        y_train=labels(20, 1),
        x_test=imgs(4),
        y_test=labels(4, 1),
    )
    np.savez(
        d / "unseen.npz",
        x_train=imgs(20),
        y_train=labels(20),
        x_test=imgs(4),
        y_test=labels(4) + 10,
    )
    from advland.data.idx import encode_idx

    for name, keep in (("idx-trunc", 4), ("idx-missing", 3)):
        folder = d / name
        folder.mkdir()
        arrays = {
            "train-images-idx3-ubyte": imgs(200),
            "train-labels-idx1-ubyte": labels(200).astype(np.uint8),
            "t10k-images-idx3-ubyte": imgs(40),
            "t10k-labels-idx1-ubyte": labels(40).astype(np.uint8),
        }
        for stem, arr in list(arrays.items())[:keep]:
            data = encode_idx(arr)
            if name == "idx-trunc" and stem.startswith("train-images"):
                data = data[: len(data) // 2]
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
    (d / "broken.yaml").write_text("model: [lenet, 4\n")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "typo.yaml").write_text("modle: {name: lenet}\n")
    (d / "type.yaml").write_text("train: {epochs: ten}\n")
    (d / "file.txt").write_text("a regular file\n")
    (d / "full").mkdir()
    (d / "full" / "keep.txt").write_text("x")


def _fingerprint(path: Path) -> dict[str, str] | None:
    if not path.exists():
        return None
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(path.rglob("*"))
    }


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Train one tiny run, make the bad files, then run every case (two at a time)."""
    import advland

    d = tmp_path_factory.mktemp("bad")
    _write_files(d)
    run = d / "run"
    cfg = advland.build_config("configs/quickstart.yaml", [*TINY, "train.epochs=1", "device=cpu"])
    advland.train(cfg, run, log=lambda s: None)
    runs = {"run": run}
    # `wide_ok`: a consistent run of another width (for analyze curve).
    wide = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, width=2))
    advland.train(wide, d / "wide_ok", log=lambda s: None)
    runs["wide_ok"] = d / "wide_ok"
    for name in ("wide", "broken", "tampered", "torn"):
        shutil.copytree(run, d / name)
        runs[name] = d / name
    # `wide`: config says width 2, checkpoint holds width 1 (another architecture).
    text = (d / "wide" / "config.yaml").read_text()
    assert "width: 1" in text
    (d / "wide" / "config.yaml").write_text(text.replace("width: 1", "width: 2"))
    ck = d / "broken" / "checkpoints" / "latest.pt"
    ck.write_bytes(ck.read_bytes()[:100])
    runs |= _damaged_results(d)

    def expand(case):
        cid, argv, _, keep = case
        paths = {"d": d, "out": d / f"out-{cid}", **runs}
        target = paths["out"] if keep == "out" else (d / "full" if keep == "full" else runs[keep])
        return [a.format(**paths) for a in argv], target

    before = {c[0]: _fingerprint(expand(c)[1]) for c in CASES}
    logs = d / "logs"
    logs.mkdir()
    results = _run_forked({c[0]: expand(c)[0] for c in CASES}, logs)
    return {c[0]: (results[c[0]], before[c[0]], _fingerprint(expand(c)[1])) for c in CASES}


def _damaged_results(d: Path) -> dict[str, Path]:
    """Result files with a checksum that no longer matches (edited values) or cut short."""
    summary = d / "tampered" / "summary.json"
    rec = json.loads(summary.read_text())
    rec["robust_error"] = 0.0  # a flattering edit, the checksum field left as it was
    summary.write_text(json.dumps(rec, indent=2))
    torn = d / "torn" / "summary.json"
    torn.write_text(torn.read_text()[:40])
    folders = {name: d / name for name in ("hess", "surf", "curve")}
    for name, file in (("hess", "spectrum.npz"), ("surf", "surface.npz")):
        atomic_write_npz(folders[name] / file, {"fingerprint": "x", "loss": np.zeros(3)})
        arrays = dict(np.load(folders[name] / file))
        arrays["loss"][1] = -1.0  # edited, old checksum kept
        np.savez(folders[name] / file, **arrays)
    ck = folders["curve"] / "curve-train.pt"
    save_verified(ck, {"format": 1, "fingerprint": "x"})
    data = bytearray(ck.read_bytes())
    data[-10] ^= 1  # one flipped bit
    ck.write_bytes(bytes(data))
    return folders


def _run_forked(
    argvs: dict[str, list[str]], logs: Path, parallel: int = 2, timeout: float = 120
) -> dict[str, subprocess.CompletedProcess]:
    """Each argv in its own forked process, `parallel` at a time; real exit statuses."""
    pending, running, results = list(argvs.items()), {}, {}
    while pending or running:
        while pending and len(running) < parallel:
            cid, argv = pending.pop(0)
            pid = fork_cli(argv, logs / f"{cid}.out", logs / f"{cid}.err")
            running[pid] = (cid, argv, time.monotonic() + timeout)
        for pid, (cid, argv, deadline) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done and time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)  # a case that hangs fails, it does not hang pytest
            if done:
                del running[pid]
                out, err = ((logs / f"{cid}{ext}").read_text() for ext in (".out", ".err"))
                rc = os.waitstatus_to_exitcode(status)
                results[cid] = subprocess.CompletedProcess(argv, rc, out, err)
        time.sleep(0.002)
    return results


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_written(outcomes, case):
    cid, argv, needle, _ = case
    proc, before, after = outcomes[cid]
    msg = f"advland {' '.join(argv)}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 2, msg
    assert "Traceback" not in proc.stderr, msg
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("advland: error:"), msg
    assert needle in lines[0], msg
    assert after == before, f"output changed: {before} -> {after}\n{msg}"


def test_enough_cases():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


def _unwritable_parent(tmp_path: Path) -> Path:
    """A folder this process cannot create entries in: chmod 0500, or for root (whom
    permissions do not stop) the sysfs root, where even root gets EPERM."""
    if os.geteuid() != 0:
        parent = tmp_path / "ro"
        parent.mkdir()
        parent.chmod(0o500)
        return parent
    if not Path("/sys/kernel").is_dir():
        pytest.skip("running as root without sysfs: no unwritable folder to try")
    return Path("/sys")


def test_unwritable_out_dir(tmp_path):
    parent = _unwritable_parent(tmp_path)
    target = parent / f"advland-test-{os.getpid()}"
    try:
        proc = _forked(tmp_path, *QS, *SAFE[:-2], "--out", str(target))
    finally:
        if parent != Path("/sys"):
            parent.chmod(0o700)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("advland: error:") and str(target) in lines[0]
    assert not target.exists()


def test_debug_shows_the_traceback(tmp_path):
    proc = _forked(tmp_path, "--debug", *QS, "--set", "attack.eps=-1", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "UserError" in proc.stderr
    assert not (tmp_path / "x").exists()


def _forked(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    return _run_forked({"case": list(argv)}, tmp_path)["case"]
