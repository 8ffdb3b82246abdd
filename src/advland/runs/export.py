"""Export a trained run's weights for use without advland, with a JSON model card.

    advland export runs/mine --format safetensors        # -> runs/mine/export/
    advland export runs/mine --format torch --checkpoint best

writes `model.safetensors` (or `model.pt`, a plain `torch.save` of the state dict) and
`model.json`: the architecture (registered name and width, or the import path and its
kwargs), the data, the threat model (ε, norm), the training attack and schedules, the
robust errors with the suite that measured them, the checkpoint and the SHA-256 of the
weights file. A user without advland loads the weights in two lines:

    from safetensors.torch import load_file; state = load_file("model.safetensors")
    state = torch.load("model.pt", weights_only=True)

`checkpoint` is `latest` (the final weights), `best` (best validation robust error),
`init` or `snapshot-K` (the end of PAS period K); the file's SHA-256 is verified first.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

import torch

from advland.config import load_run_config_dict
from advland.errors import UserError
from advland.fileio import atomic_write_bytes, atomic_write_json
from advland.runs.checkpoint import load_file
from advland.runs.rundir import checkpoint_dir, read_summary, require_run_dir

FORMATS = {"safetensors": "model.safetensors", "torch": "model.pt"}
CHECKPOINT = re.compile(r"latest|best|init|snapshot-\d+")


def checkpoint_file(run_dir: Path, checkpoint: str) -> Path:
    """The verified file of `checkpoint` (latest, best, init or snapshot-K) of a run."""
    if not CHECKPOINT.fullmatch(checkpoint):
        raise UserError(
            f"checkpoint '{checkpoint}' unknown; use latest, best, init or snapshot-K (e.g. snapshot-0)"
        )
    path = checkpoint_dir(run_dir) / f"{checkpoint}.pt"
    if not path.is_file():
        have = sorted(p.stem for p in checkpoint_dir(run_dir).glob("*.pt"))
        raise UserError(
            f"run '{run_dir}' has no {checkpoint}.pt; it has {', '.join(have) or 'none'}"
        )
    return path


def export_run(
    run_dir: str | Path, fmt: str, *, checkpoint: str = "latest", out: str | Path | None = None
) -> Path:
    """Write the weights in `fmt` and model.json into `out` (default RUN/export); returns `out`."""
    if fmt not in FORMATS:
        raise UserError(f"format '{fmt}' unknown; use {' or '.join(FORMATS)}")
    if fmt == "safetensors":
        try:
            from safetensors.torch import save as st_save
        except ImportError:
            raise UserError(
                "format safetensors needs the safetensors package: pip install 'advland[export]'"
            ) from None
    run = require_run_dir(run_dir)
    path = checkpoint_file(run, checkpoint)
    obj = load_file(path)
    state = {k: v.contiguous() for k, v in obj["model"].items()}
    if fmt == "safetensors":
        data = st_save(state, metadata={"format": "pt"})
    else:
        buf = io.BytesIO()
        torch.save(state, buf)
        data = buf.getvalue()
    target = Path(out) if out is not None else run / "export"
    target.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target / FORMATS[fmt], data)
    card = model_card(run, obj, checkpoint, fmt, hashlib.sha256(data).hexdigest())
    atomic_write_json(target / "model.json", card)
    return target


def model_card(run: Path, obj: dict, checkpoint: str, fmt: str, sha256: str) -> dict[str, Any]:
    cfg = obj.get("config") or load_run_config_dict(run / "config.yaml")
    summary = read_summary(run)
    model = cfg["model"]
    imported = ":" in str(model["name"])
    return {
        "weights": {"file": FORMATS[fmt], "format": fmt, "sha256": sha256},
        "architecture": (
            {"import_path": model["name"], "kwargs": model.get("kwargs", {})}
            if imported
            else {"name": model["name"], "width": model["width"]}
        ),
        "parameters": sum(int(t.numel()) for t in obj["model"].values() if t.is_floating_point()),
        "checkpoint": {"name": checkpoint, "epoch": obj.get("epoch")},
        "input": "images in [0,1], N x C x H x W, no normalisation (ε is in pixel units)",
        "threat": {"norm": cfg["attack"]["norm"], "eps": cfg["attack"]["eps"]},
        "training": {
            "attack": cfg["attack"],
            "eps_schedule": cfg["eps_schedule"],
            "lr_schedule": cfg["lr_schedule"],
            "optim": cfg["optim"],
            "epochs": cfg["train"]["epochs"],
            "periods": cfg["train"]["periods"],
            "seed": cfg["train"]["seed"],
        },
        "data": cfg["data"],
        "evaluation": _evaluation(summary, checkpoint),
    }


def _evaluation(summary: dict, checkpoint: str) -> dict[str, Any]:
    """Robust errors with the suite that measured them (the final model's at training end,
    then every `advland evaluate` recorded in summary.json)."""
    out: dict[str, Any] = {"status": summary.get("status")}
    if "robust_error" in summary and checkpoint == "latest":
        out["final"] = {
            k: summary.get(k)
            for k in ("suite", "attack", "eps", "norm", "n_test", "clean_error", "robust_error")
        }
        if "ensemble" in summary:
            out["ensemble"] = summary["ensemble"]
    evals = summary.get("evaluations", {})
    out["evaluations"] = {
        k: v for k, v in evals.items() if v.get("checkpoint", "latest") == checkpoint
    }
    if checkpoint != "latest" and not out["evaluations"]:
        out["note"] = (
            f"no evaluation of {checkpoint} recorded; run advland evaluate RUN --checkpoint {checkpoint}"
        )
    return out
