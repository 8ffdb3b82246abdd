"""advland installs like a library: a wheel built from the repository, installed
non-editable into a fresh virtual environment, runs the CLI with its built-in configs
from a folder that is not the checkout.

The fresh venv gets the already-installed dependencies (torch, numpy, …) through a `.pth`
line naming this interpreter's site-packages (a `.pth` line adds a folder to sys.path but
does not run the `.pth` files inside it, so the editable advland of this environment
stays invisible); advland itself comes only from the wheel, which the test checks."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

from support import ROOT, cli_env


def _run(cmd, cwd, env=None):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path):
    dist = tmp_path / "dist"
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            "-q",
        ],
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("advland-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "advland/configs/mnist-lenet-cosine.yaml" in names and "advland/py.typed" in names
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = _run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path
    )
    pth = Path(site.stdout.strip()) / "base_deps.pth"
    pth.write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        cwd=tmp_path,
    )
    assert inst.returncode == 0, inst.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in cli_env().items() if k != "PYTHONPATH"}
    where = _run([str(py), "-c", "import advland; print(advland.__file__)"], work, env)
    assert where.stdout.startswith(str(env_dir)), where.stdout + where.stderr
    exe = str(env_dir / "bin" / "advland")
    assert _run([exe, "quickstart", "--help"], work, env).returncode == 0
    listed = _run([exe, "reproduce", "--list"], work, env)
    assert listed.returncode == 0 and "table1" in listed.stdout, listed.stderr
    train = _run(
        [
            exe,
            "train",
            "--config",
            "mnist-lenet-cosine",
            "--set",
            "train.epochs=1",
            "--set",
            "data.name=mnist-5k",
            "--set",
            "data.train_limit=200",
            "--set",
            "data.val_size=50",
            "--set",
            "data.test_limit=50",
            "--set",
            "model.width=1",
            "--set",
            "attack.steps=1",
            "--set",
            "eval.limit=50",
            "--out",
            "run",
        ],
        work,
        env,
    )
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    assert (work / "run" / "summary.json").is_file()
