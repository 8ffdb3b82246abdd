"""Models out: a checkpoint and an export each load with two lines of plain PyTorch (and
safetensors) in a process where advland cannot be imported; the model card."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig

import pytest
import torch

import advland
from advland.runs.checkpoint import load_file
from fixtures import Digits, TinyCNN, digits_tensors
from support import cli_env, run_cli

CONFIG = {
    "train": {"epochs": 2, "batch_size": 50, "periods": [0, 1, 2], "val_every": 0},
    "attack": {"eps": 0.1, "steps": 1, "step_size": 0.1},
    "eval": {"limit": 20},
}

# Run with `python -S`: no site-packages processing, so neither advland's editable install
# nor anything else of this environment is importable; only torch's folder is added.
NO_ADVLAND = """
import sys, importlib.util
sys.path.append({site!r})
assert importlib.util.find_spec("advland") is None, "advland is importable"
import torch
from torch import nn
class Net(nn.Module):  # the user's own architecture (tests/fixtures.py TinyCNN)
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4),
            nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Linear(64, 10)
    def forward(self, x):
        return self.head(self.features(x))
model = Net().eval()
{load}
x = torch.linspace(0, 1, 2 * 28 * 28).reshape(2, 1, 28, 28)
print(model(x).detach().tolist())
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "run"
    torch.manual_seed(0)
    advland.fit(
        TinyCNN(),
        digits_tensors("train", 100),
        CONFIG,
        out,
        test_data=Digits("test", 20, shift=False),
        log=lambda _: None,
    )
    return out


def _logits_without_advland(load: str) -> list:
    script = NO_ADVLAND.format(site=sysconfig.get_paths()["purelib"], load=load)
    env = {k: v for k, v in cli_env().items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-S", "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _reference(path, key="model") -> list:
    model = TinyCNN().eval()
    state = load_file(path)[key] if key else torch.load(path, weights_only=True)
    model.load_state_dict(state)
    x = torch.linspace(0, 1, 2 * 28 * 28).reshape(2, 1, 28, 28)
    return model(x).detach().tolist()


def test_checkpoint_loads_with_plain_torch(run_dir):
    path = run_dir / "checkpoints" / "latest.pt"
    load = f'model.load_state_dict(torch.load({str(path)!r}, weights_only=True)["model"])'
    assert _logits_without_advland(load) == _reference(path)


@pytest.mark.parametrize("fmt", ["torch", "safetensors"])
def test_export_loads_without_advland(run_dir, tmp_path, fmt):
    out = tmp_path / fmt
    proc = run_cli(
        "export", str(run_dir), "--format", fmt, "--checkpoint", "snapshot-0", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    if fmt == "torch":
        load = f"model.load_state_dict(torch.load({str(out / 'model.pt')!r}, weights_only=True))"
    else:
        load = (
            "from safetensors.torch import load_file\n"
            f"model.load_state_dict(load_file({str(out / 'model.safetensors')!r}))"
        )
    assert _logits_without_advland(load) == _reference(run_dir / "checkpoints" / "snapshot-0.pt")
    card = json.loads((out / "model.json").read_text())
    assert card["architecture"]["import_path"] == "fixtures:TinyCNN"
    assert card["threat"] == {"norm": "linf", "eps": 0.1}
    assert card["checkpoint"] == {"name": "snapshot-0", "epoch": 1}
    assert card["training"]["periods"] == [0, 1, 2]


def test_export_card_has_the_robust_errors_and_their_suite(run_dir, tmp_path):
    assert (
        run_cli("export", str(run_dir), "--format", "torch", "--out", str(tmp_path)).returncode == 0
    )
    card = json.loads((tmp_path / "model.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    final = card["evaluation"]["final"]
    assert final["suite"] == "quick" and final["robust_error"] == summary["robust_error"]
    assert card["evaluation"]["ensemble"]["robust_error"] == summary["ensemble"]["robust_error"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--checkpoint", "snapshot-9"], "has no snapshot-9.pt"),
        (["--checkpoint", "../x"], "unknown"),
    ],
)
def test_export_bad_input_is_one_line_exit_2(run_dir, tmp_path, args, message):
    proc = run_cli("export", str(run_dir), "--out", str(tmp_path / "o"), *args)
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_evaluate_of_a_fit_run_says_where_its_data_is(run_dir):
    proc = run_cli("evaluate", str(run_dir), "--suite", "quick")
    assert proc.returncode == 2 and "advland.fit" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_first_format_checkpoints_still_load(tmp_path):
    """A v1 file (header line + payload) from an older advland still loads, verified."""
    import hashlib
    import io

    from advland.errors import UserError
    from advland.runs.checkpoint import load_file

    buf = io.BytesIO()
    torch.save({"format": 1, "epoch": 3, "model": {"w": torch.arange(4.0)}}, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    path = tmp_path / "old.pt"
    path.write_bytes(
        b"ADVLAND-CHECKPOINT v1 sha256=%s bytes=%d\n" % (digest.encode(), len(payload)) + payload
    )
    assert torch.equal(load_file(path)["model"]["w"], torch.arange(4.0))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(UserError, match="truncated"):
        load_file(path)
