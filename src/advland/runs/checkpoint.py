"""Checkpoints that resume a run exactly.

A checkpoint holds the model and optimizer state, the number of completed epochs (the
schedules are stateless, so that is the whole schedule position), every RNG state the run
draws from, the PAS snapshot list and the config. Files are loaded with
`weights_only=True` only, so a checkpoint can never execute code.

Integrity. Every checkpoint file (latest.pt, previous.pt, snapshot-<k>.pt, best.pt,
init.pt) is a plain `torch.save` zip archive whose zip comment (the last bytes of the file)
holds the SHA-256 of every byte before the comment's length field:

    ADVLAND sha256=<64 hex digits>

so `torch.load(path, weights_only=True)` opens it with no advland installed, and advland
still verifies it. The hash lives *inside* the file it protects and the whole file is
written by one atomic rename (`fileio.atomic_write_bytes`), so no instant of a crash —
SIGKILL included — can leave a checkpoint and its hash inconsistent: a reader sees either
the complete old file or the complete new one. (A sidecar `.sha256` file would need two
renames, with a window where the pair disagrees.) Loading reads the file, checks the
SHA-256, then calls `torch.load(weights_only=True)`; truncation, bit rot or tampering
give a one-line UserError naming the file. Files of the first format (one header line
`ADVLAND-CHECKPOINT v1 sha256=… bytes=…` before the payload) are still read.

Fallback. Before latest.pt is replaced, the previous one is renamed to previous.pt
(atomic), so a resume can fall back one epoch when latest.pt is corrupt or missing; the
schedules and RNG states in the older checkpoint replay the lost epoch bit-identically.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from advland.errors import UserError
from advland.fileio import atomic_write_bytes, crash_point, fsync_dir

FORMAT = 1
MAGIC = b"ADVLAND-CHECKPOINT v1"
LATEST, PREVIOUS = "latest.pt", "previous.pt"
SNAPSHOT_NAME = re.compile(r"snapshot-\d+\.pt")  # the only names a checkpoint may list


@dataclass
class Generators:
    """The run's explicit random streams (no global RNG is used for training randomness)."""

    data: torch.Generator  # shuffling and augmentation
    attack: torch.Generator  # PGD random starts

    @classmethod
    def seeded(cls, seed: int) -> Generators:
        return cls(
            data=torch.Generator().manual_seed(seed),
            attack=torch.Generator().manual_seed(seed + 1_000_003),
        )

    def state(self) -> dict:
        return {
            "data": self.data.get_state(),
            "attack": self.attack.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def restore(self, state: dict) -> None:
        self.data.set_state(state["data"])
        self.attack.set_state(state["attack"])
        torch.set_rng_state(state["torch"])
        if state.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    gens: Generators,
    snapshots: list[str],
    config: dict,
    extra: dict | None = None,
) -> str:
    """Atomically write a resumable checkpoint; returns its SHA-256.

    Writing `latest.pt` first renames the current one to `previous.pt` (the fallback)."""
    if path.name == LATEST and path.is_file():
        os.replace(path, path.with_name(PREVIOUS))  # a crash after this leaves previous.pt
        crash_point(PREVIOUS, "mid")  # test-only: dies with previous.pt and no latest.pt
        fsync_dir(path.parent)
    return save_verified(
        path,
        {
            "format": FORMAT,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": gens.state(),
            "snapshots": list(snapshots),
            "config": config,
            "extra": extra or {},
        },
    )


def save_weights(path: Path, model: nn.Module, epoch: int, config: dict) -> str:
    """Weights only (period snapshots, best and initial θ)."""
    return save_verified(
        path, {"format": FORMAT, "epoch": epoch, "model": model.state_dict(), "config": config}
    )


EOCD = b"PK\x05\x06"  # zip end-of-central-directory signature (22 bytes + comment)
COMMENT = b"ADVLAND sha256="
COMMENT_LEN = len(COMMENT) + 64


def save_verified(path: Path, obj: dict) -> str:
    """`torch.save` with its SHA-256 in the zip comment, written atomically; returns it."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    if data[-22:-18] != EOCD or data[-2:] != b"\x00\x00":
        raise RuntimeError("torch.save wrote an unexpected archive layout")  # never seen
    body = data[:-2]  # everything up to the (empty) comment's length field
    digest = hashlib.sha256(body).hexdigest()
    comment = COMMENT + digest.encode()
    atomic_write_bytes(path, body + len(comment).to_bytes(2, "little") + comment)
    return digest


RESUME_OLDER = "delete it or resume from an older one"


def verified_payload(path: Path, fix: str = RESUME_OLDER) -> bytes:
    """The bytes to `torch.load` after checking the file's SHA-256 (see the module
    docstring; files of the first, header-line format are read too).

    `fix` ends the error message: how to recover (differs for analysis files)."""
    data = path.read_bytes()
    if data.startswith(MAGIC):
        return _legacy_payload(path, data, fix)
    tail = data[-COMMENT_LEN:]
    length = data[-COMMENT_LEN - 2 : -COMMENT_LEN]
    if not tail.startswith(COMMENT) or length != COMMENT_LEN.to_bytes(2, "little"):
        raise UserError(
            f"checkpoint '{path}' has no advland integrity record at its end (truncated, or "
            f"not written by advland); {fix}"
        )
    want = tail[len(COMMENT) :].decode("ascii", "replace")
    if hashlib.sha256(data[: -COMMENT_LEN - 2]).hexdigest() != want:
        raise UserError(
            f"checkpoint '{path}' fails its SHA-256 check (corrupted or modified); {fix}"
        )
    return data


def _legacy_payload(path: Path, data: bytes, fix: str) -> bytes:
    end = data.find(b"\n", 0, 256)
    m = re.fullmatch(rb"ADVLAND-CHECKPOINT v1 sha256=([0-9a-f]{64}) bytes=(\d+)", data[:end])
    if end < 0 or not m:
        raise UserError(f"checkpoint '{path}' has a damaged advland integrity header; {fix}")
    payload, want = data[end + 1 :], int(m.group(2))
    if len(payload) != want:
        raise UserError(f"checkpoint '{path}' is truncated ({len(payload)} of {want} bytes); {fix}")
    if hashlib.sha256(payload).hexdigest() != m.group(1).decode():
        raise UserError(
            f"checkpoint '{path}' fails its SHA-256 check (corrupted or modified); {fix}"
        )
    return payload


def load_verified(
    path: Path, map_location: str | torch.device = "cpu", fix: str = RESUME_OLDER
) -> object:
    """Any file written by `save_verified` (checkpoints, curve.pt, curve-train.pt):
    header, length and SHA-256 checked, then `torch.load(weights_only=True)`."""
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' not found; check the run directory")
    payload = verified_payload(path, fix)
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for malformed payloads
        raise UserError(
            f"checkpoint '{path}' is unreadable or corrupt ({type(e).__name__}); {fix}"
        ) from e


def load_file(path: Path, map_location: str | torch.device = "cpu") -> dict:
    obj = load_verified(path, map_location)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or "model" not in obj:
        raise UserError(f"checkpoint '{path}' is not an advland checkpoint (format {FORMAT})")
    return obj


def load_weights(model: nn.Module, path: Path) -> dict:
    obj = load_file(path, map_location=next(model.parameters()).device)
    try:
        model.load_state_dict(obj["model"])
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else "shape mismatch"
        raise UserError(
            f"checkpoint '{path}' does not fit this model ({first}); was it trained with another model/width?"
        ) from e
    return obj


def load_newest_intact(ck_dir: Path, log) -> dict | None:
    """The newest resumable checkpoint: latest.pt, else previous.pt; None if there is none.

    A corrupt latest.pt is renamed to latest.pt.corrupt (kept for inspection) so that the
    next save does not rotate it into previous.pt. Raises UserError if checkpoints exist
    but none is intact."""
    bad: list[str] = []
    for name in (LATEST, PREVIOUS):
        path = ck_dir / name
        if not path.is_file():
            continue
        try:
            obj = load_file(path)
            _check_snapshot_names(path, obj)
        except UserError as e:
            log(f"warning: {e}")
            bad.append(name)
            continue
        if bad:
            for b in bad:
                os.replace(ck_dir / b, ck_dir / f"{b}.corrupt")
            log(f"falling back to {path} (epoch {obj['epoch']}): {', '.join(bad)} is corrupt")
        elif name == PREVIOUS:
            log(f"no {LATEST} (interrupted while saving); resuming from {path}")
        return obj
    if bad:
        raise UserError(
            f"no intact checkpoint in '{ck_dir}' ({', '.join(bad)} corrupt); "
            f"delete them to restart the run from epoch 0"
        )
    return None


def _check_snapshot_names(path: Path, obj: dict) -> None:
    # Snapshot names become file paths: only plain `snapshot-<k>.pt` names, never '../x'.
    for name in obj.get("snapshots", []):
        if not isinstance(name, str) or not SNAPSHOT_NAME.fullmatch(name):
            raise UserError(f"checkpoint '{path}' lists an invalid snapshot name {name!r}")
