"""The one job runner shared by the analysis tools: resumable stages, atomic result files,
progress, tables and figures.

An analysis tool is split in two:

- a pure core `(model, data, config, *, cache=None) -> Result` that does the mathematics.
  It never touches paths. It saves expensive partial results through a small
  `StageCache` (or does nothing when the cache is None): `cache.get(name, fp)` returns a
  stage's payload saved by an earlier call with the same fingerprint `fp`, or None;
  `cache.put(name, fp, payload)` saves it at once (atomically); `cache.note(name, text)`
  logs a line in which `{path}` names the stage's file.
- an edge that opens a `Job` on the output folder, hands `job.cache` to the core, then
  writes the final files (`job.write_json`, `job.write_npz`), prints the table
  (`job.show`) and makes the figures (`job.figure`, matplotlib imported only then).

A stage is declared once per tool with `Stage(file, rerun=..., mismatch=...)`. The file's
suffix picks its format: `.json` (`atomic_write_json`), `.npz` (`atomic_write_npz`) or
`.pt` (`save_verified`); all are checksummed and written atomically. The fingerprint is
stored in the payload under "fingerprint": first in a JSON object, last in an NPZ or a
`.pt` dict, or at the position of a "fingerprint" key the payload already holds (its
value is replaced). On `get`:

- no file, `resume=False` or no out_dir: None (the core computes);
- a corrupt file: a one-line UserError ending in the stage's `rerun` hint;
- another fingerprint (other settings, weights or data): None when `mismatch` is None
  (the stage is recomputed and its file overwritten), else a UserError with the
  `mismatch` text, `{path}` filled in.

Fingerprints are `fingerprint(settings, tensors)` (SHA-256 of the settings as sorted JSON,
then the bytes of each tensor); `architecture(model)` identifies a model without its
weights. A core computes them, because it knows what a stage depends on. A tool config validates
itself with `validate_tool(self)` in `__post_init__`.

Example::

    STAGES = {"solve": Stage("spectrum.npz", rerun="rerun 'advland analyze hessian'")}

    def core(model, x, cfg, *, cache=None):
        fp = fingerprint(asdict(cfg), model.state_dict().values())
        saved = cache.get("solve", fp) if cache else None
        if saved is None:
            saved = {"eigenvalues": solve(model, x, cfg).numpy()}
            if cache:
                cache.put("solve", fp, saved)
        else:
            cache.note("solve", "reusing the eigensolve in {path}")
        return Result(saved["eigenvalues"])

    def tool(model, x, cfg, out_dir=None, resume=True, verbose=True):
        job = Job("hessian", out_dir, STAGES, resume=resume, verbose=verbose)
        result = core(model, x, cfg, cache=job.cache)
        job.write_json("spectrum.json", result.to_dict())
        job.figure("advland.reporting.plot_spectrum:plot_spectrum", result, "plot.png")
        job.show(format_table(result))
        return result
"""

from __future__ import annotations

import importlib
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tqdm.auto import tqdm

from advland import distributed
from advland.analysis.resume import architecture, fingerprint
from advland.errors import UserError
from advland.fileio import (
    atomic_write_json,
    atomic_write_npz,
    read_json,
    read_npz,
    remove_stale_temps,
)
from advland.validation import validate

__all__ = [
    "Job",
    "Stage",
    "StageCache",
    "architecture",
    "fingerprint",
    "progress",
    "say",
    "validate_tool",
]

T = TypeVar("T")
FINGERPRINT = "fingerprint"


class StageCache(Protocol):
    """What a pure core may do with partial results (see the module doc)."""

    def get(self, name: str, fp: str) -> dict | None: ...

    def put(self, name: str, fp: str, payload: dict) -> None: ...

    def note(self, name: str, text: str) -> None: ...


@dataclass(frozen=True)
class Stage:
    """A named partial result: its file in the job's folder (the suffix picks the
    format), the fix a corrupt file's error suggests, and what a file of other inputs
    means (None: recompute and overwrite; a text: stop with that error, `{path}` filled)."""

    file: str
    rerun: str
    mismatch: str | None = None

    @property
    def kind(self) -> str:
        kind = Path(self.file).suffix.lstrip(".")
        if kind not in ("json", "npz", "pt"):
            raise ValueError(f"stage file {self.file!r} must end in .json, .npz or .pt")
        return kind


def progress(
    items: Iterable[T],
    desc: str,
    *,
    enabled: bool = True,
    unit: str = "it",
    total: int | None = None,
) -> Iterator[T]:
    """A transient progress bar over `items` (none when not `enabled`, and none on the
    ranks other than 0 under torchrun)."""
    off = not (enabled and distributed.is_main())
    return iter(tqdm(items, desc=desc, unit=unit, disable=off, leave=False, total=total))


def say(text: str) -> None:
    """A log line that does not break a progress bar (rank 0 only under torchrun)."""
    if not distributed.is_main():
        return
    tqdm.write(text)


def validate_tool(cfg: Any) -> None:
    """`validate(cfg)` for a tool config (call it in `__post_init__`). A bound error names
    the field, then the value: `attack.eps must be >= 0, got -1.0`."""
    try:
        validate(cfg)
    except UserError as e:
        raise UserError(_value_last(cfg, str(e))) from None


def _value_last(cfg: Any, message: str) -> str:
    path = message.split("=", 1)[0]
    value: Any = cfg
    for part in path.split("."):
        value = getattr(value, part, None)
    head = f"{path}={value} "
    if value is None or not message.startswith(head):
        return message
    return f"{path} {message[len(head) :]}, got {value}"


def _with_fingerprint(payload: dict, fp: str, first: bool) -> dict:
    if FINGERPRINT in payload:
        return {k: (fp if k == FINGERPRINT else v) for k, v in payload.items()}
    return {FINGERPRINT: fp, **payload} if first else {**payload, FINGERPRINT: fp}


class _FolderCache:
    """`StageCache` over files in one folder."""

    def __init__(self, folder: Path, stages: dict[str, Stage], resume: bool, verbose: bool):
        self.folder, self.stages = folder, stages
        self.resume, self.verbose = resume, verbose

    def path(self, name: str) -> Path:
        return self.folder / self.stages[name].file

    def get(self, name: str, fp: str) -> dict | None:
        stage, path = self.stages[name], self.path(name)
        if not (self.resume and fp and path.is_file()):
            return None
        payload = _read(stage, path)
        stored = payload.get(FINGERPRINT) if isinstance(payload, dict) else None
        if stored is None or str(stored) != fp:
            if stage.mismatch is not None:
                raise UserError(stage.mismatch.format(path=path))
            return None
        return {k: v for k, v in payload.items() if k != FINGERPRINT}

    def put(self, name: str, fp: str, payload: dict) -> None:
        if not distributed.is_main():  # every rank computed it; rank 0 saves it
            return
        stage, path = self.stages[name], self.path(name)
        if stage.kind == "json":
            atomic_write_json(path, _with_fingerprint(payload, fp, first=True))
        elif stage.kind == "npz":
            atomic_write_npz(path, _with_fingerprint(payload, fp, first=False))
        else:
            from advland.runs.checkpoint import save_verified

            save_verified(path, _with_fingerprint(payload, fp, first=False))

    def note(self, name: str, text: str) -> None:
        if self.verbose:
            say(text.format(path=self.path(name)))


def _read(stage: Stage, path: Path) -> Any:
    if stage.kind == "json":
        return read_json(path, rerun=stage.rerun)
    if stage.kind == "npz":
        return read_npz(path, rerun=stage.rerun)
    from advland.runs.checkpoint import load_verified

    return load_verified(path, fix=stage.rerun)


class Job:
    """One tool call: its output folder (None: nothing is written), its stages, and the
    switches `resume` (reuse partial results) and `verbose` (progress, notes, table).

    Opening a job with `resume` deletes the temporary files an interrupted atomic write
    left in the folder.

    Under torchrun every rank opens the job and reads saved stages (so all ranks take the
    same path through a tool), and only rank 0 writes files, prints and draws figures."""

    def __init__(
        self,
        tool: str,
        out_dir: str | Path | None,
        stages: dict[str, Stage] | None = None,
        *,
        resume: bool = True,
        verbose: bool = True,
    ) -> None:
        self.tool, self.resume, self.verbose = tool, resume, verbose
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.stages = dict(stages or {})
        self.started = time.perf_counter()
        self.cache: _FolderCache | None = None
        self.main = distributed.is_main()
        if self.out_dir is not None:
            if resume and self.main:
                remove_stale_temps(self.out_dir)
            self.cache = _FolderCache(self.out_dir, self.stages, resume, verbose)

    @property
    def elapsed(self) -> float:
        """Seconds since the job was opened."""
        return time.perf_counter() - self.started

    def path(self, name: str) -> Path:
        if self.out_dir is None:
            raise ValueError(f"{self.tool}: no output folder to write {name!r} to")
        return self.out_dir / name

    def write_json(self, name: str, record: dict) -> Path:
        """A final JSON result, atomically and checksummed (nothing without out_dir)."""
        if self.out_dir is None or not self.main:
            return Path(name)
        atomic_write_json(self.path(name), record)
        return self.path(name)

    def write_npz(self, name: str, arrays: dict) -> Path:
        """Final arrays as an `.npz`, atomically and checksummed (nothing without out_dir)."""
        if self.out_dir is None or not self.main:
            return Path(name)
        atomic_write_npz(self.path(name), arrays)
        return self.path(name)

    def figure(self, plot: str | Callable[..., Any], *args: Any, optional: bool = False) -> Any:
        """Call a plotting function ("module:function", imported only now, so matplotlib
        loads only when a figure is made) and return what it returns (its files). With
        `optional`, a UserError (matplotlib missing) becomes a warning and None: the
        numbers are the primary output. None on the ranks other than 0 under torchrun."""
        if not self.main:
            return None
        if isinstance(plot, str):
            module, _, func = plot.partition(":")
            draw: Callable[..., Any] = getattr(importlib.import_module(module), func)
        else:
            draw = plot
        try:
            return draw(*args)
        except UserError as e:
            if not optional:
                raise
            warnings.warn(f"figure skipped: {e}", stacklevel=2)
            return None

    def show(self, table: str) -> None:
        """Print the tool's table (when verbose; rank 0 only under torchrun)."""
        if self.verbose and self.main:
            print(table)

    def progress(self, items: Iterable[T], desc: str, *, unit: str = "it") -> Iterator[T]:
        return progress(items, desc, enabled=self.verbose, unit=unit)
