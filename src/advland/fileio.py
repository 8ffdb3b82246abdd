"""Atomic file writing and checksums.

Every file advland writes goes through here so that a crash (even SIGKILL) never leaves
a truncated file behind: data is written to a temporary file in the same directory,
flushed and fsynced, then renamed over the target (rename is atomic on POSIX). A crash
can leave only an orphaned temporary file (`.<name>.<random>.tmp`), which
`remove_stale_temps` deletes when a run is resumed.

Result files carry a checksum verified on load. A JSON object gets a last field
`"sha256"`: the SHA-256 of the canonical JSON (sorted keys, no spaces) of all its other
fields; an `.npz` archive gets an extra array `sha256` over the names, dtypes, shapes and
bytes of all its other arrays. The checksum lives inside the file it protects, so the one
atomic rename that writes the file writes both (no crash window), and the files stay
ordinary JSON/NPZ that any tool can open. `read_json`/`read_npz` verify it and turn a
mismatch, truncation or parse error into a one-line UserError naming the file; files
without the field (older advland, hand-made) load unchecked. Torch files are framed by
the checkpoint zip comment instead (`advland.runs.checkpoint.save_verified`).

`crash_point` is a test-only fault-injection hook (see its docstring); it does nothing
unless the environment variable ADVLAND_FAULT is set.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import tempfile
import zipfile
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advland.errors import UserError

# The process umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP)
    try:
        with os.fdopen(fd, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            crash_point(path.name, "mid")  # test-only: dies with half the bytes written
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    crash_point(path.name, "after")  # test-only: dies after the rename, before the dir fsync
    fsync_dir(path.parent)


_TMP = ".tmp"


def remove_stale_temps(directory: str | Path) -> list[Path]:
    """Delete temporary files orphaned by a crash inside `atomic_write_bytes`.

    Only names this module creates (`.<name>.<random>.tmp`) are touched, and only the
    single process that owns a run directory (a resumed run) may call this."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [p for p in directory.glob(f".*{_TMP}") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


CHECKSUM = "sha256"  # the field (JSON) or array (NPZ) holding a result file's checksum
RERUN = "rerun the command that wrote it"


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically; a dict gets a last field "sha256" (see the module doc)."""
    text = json.dumps(obj, indent=2, default=_json_default)
    if isinstance(obj, dict):
        body = json.loads(text)  # hash what a reader will see (tensors as lists, str keys)
        body.pop(CHECKSUM, None)  # a dict read back and rewritten gets a fresh checksum
        body[CHECKSUM] = json_digest(body)
        text = json.dumps(body, indent=2)
    atomic_write_text(path, text + "\n")


def json_digest(body: dict) -> str:
    """SHA-256 of the canonical JSON of `body` (layout-independent: sorted keys, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_json(path: str | Path, rerun: str = RERUN) -> Any:
    """Parse a JSON result file, verifying its "sha256" field when present (then removed).

    Missing, unparsable or mismatching files raise a one-line UserError naming the file
    and saying how to fix it (`rerun`: the command that rewrites it)."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise UserError(f"'{path}' not found; {rerun}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"'{path}' is corrupt (not valid JSON); delete it and {rerun}") from e
    except OSError as e:
        raise UserError(f"cannot read '{path}': {e.strerror}; {rerun}") from e
    if isinstance(obj, dict) and CHECKSUM in obj:
        _verify(path, obj.pop(CHECKSUM), json_digest(obj), rerun)
    return obj


def atomic_write_npz(path: str | Path, arrays: dict[str, Any]) -> None:
    """`np.savez` atomically, with an extra array "sha256" over all the others."""
    arrays = {k: np.asarray(v) for k, v in arrays.items() if k != CHECKSUM}
    buf = io.BytesIO()
    members: dict[str, Any] = {**arrays, CHECKSUM: np.asarray(npz_digest(arrays))}
    np.savez(buf, **members)
    atomic_write_bytes(path, buf.getvalue())


def npz_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over each array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.tobytes(order="C"))
    return h.hexdigest()


def read_npz(path: str | Path, rerun: str = RERUN) -> dict[str, np.ndarray]:
    """All arrays of an `.npz` result (never unpickling), checksum verified when present."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError as e:
        raise UserError(f"'{path}' not found; {rerun}") from e
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        # np.load raises all of these for truncated or damaged archives
        raise UserError(f"'{path}' is corrupt ({type(e).__name__}); delete it and {rerun}") from e
    if CHECKSUM in arrays:
        _verify(path, str(arrays.pop(CHECKSUM)), npz_digest(arrays), rerun)
    return arrays


def _verify(path: Path, stored: Any, actual: str, rerun: str) -> None:
    if stored != actual:
        raise UserError(
            f"'{path}' is corrupt (checksum mismatch: damaged or edited); delete it and {rerun}"
        )


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one JSON line and fsync (metrics logs are rewritten atomically on resume)."""
    line = json.dumps(record, default=_json_default) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line[: len(line) // 2])
        f.flush()
        crash_point(Path(path).name, "mid")  # test-only: dies leaving a torn last line
        f.write(line[len(line) // 2 :])
        f.flush()
        os.fsync(f.fileno())
    crash_point(Path(path).name, "after")


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON-lines file, ignoring a torn last line left by a crash mid-append."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry: a rename inside it is durable only after this."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def crash_point(name: str, phase: str) -> None:
    """Test-only fault injection: SIGKILL this process at a chosen write.

    ADVLAND_FAULT=<file-name-pattern>:<n>[:<phase>] kills the process at the n-th write
    (1-based, counted per process) of a file whose name matches the glob pattern, e.g.
    `latest.pt:2`, `snapshot-*.pt:1:after`, `metrics.jsonl:3`. Phases: `mid` (default; half
    the bytes are in the temporary file, or half a line is appended) and `after` (the
    file is complete and renamed into place). Unset, this costs one dict lookup."""
    spec = os.environ.get("ADVLAND_FAULT")
    if not spec:
        return
    pattern, n, *rest = spec.split(":")
    if not fnmatchcase(name, pattern):
        return
    if phase == "mid":  # every write passes "mid" exactly once: count it there
        _FAULT_COUNTS[pattern] = _FAULT_COUNTS.get(pattern, 0) + 1
    if phase == (rest[0] if rest else "mid") and _FAULT_COUNTS.get(pattern) == int(n):
        os.kill(os.getpid(), signal.SIGKILL)


_FAULT_COUNTS: dict[str, int] = {}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
