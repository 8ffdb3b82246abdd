"""The units of work a recipe expands to: training runs and analyses, each a plain CLI call.

A `TrainJob` is one `advland train` run (a Table-1 recipe from `configs/` plus `--set`
overrides) and an `AnalysisJob` one `advland analyze` call. Both are plain command lines
with their own output folders, so a sweep can also be split over machines by hand
(`advland reproduce ITEM --dry-run` prints them). Run folders are named by the job's
content, so recipes that need the same model (Fig. 2 and Fig. 3 both analyse the ε-sweep
models) share one run instead of training it twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advland.errors import UserError
from advland.fileio import atomic_write_json, read_json

Tags = tuple[tuple[str, Any], ...]


def configs_dir() -> Path:
    """The recipes folder: $ADVLAND_CONFIGS, else the configs shipped inside the package."""
    env = os.environ.get("ADVLAND_CONFIGS")
    path = Path(env) if env else Path(__file__).resolve().parents[1] / "configs"
    if not path.is_dir():
        raise UserError(
            f"recipe folder '{path}' not found; unset ADVLAND_CONFIGS to use the built-in "
            "configs, or point it at a folder of recipes"
        )
    return path


@dataclass(frozen=True)
class TrainJob:
    """One training run: `configs/<config>` + `overrides`; `tags` label it for aggregation."""

    config: str
    overrides: tuple[str, ...]
    tags: Tags

    @property
    def tag(self) -> dict[str, Any]:
        return dict(self.tags)

    @property
    def key(self) -> str:
        """Folder name: readable tags plus a hash of what defines the run."""
        ident = json.dumps([self.config, sorted(self.overrides)])
        digest = hashlib.sha256(ident.encode()).hexdigest()[:10]
        slug = "-".join(_short(k, v) for k, v in self.tags if k != "seed")
        seed = self.tag.get("seed")
        slug = f"{slug}-s{seed}" if seed is not None else slug
        return f"{slug}-{digest}" if slug else digest

    def config_path(self) -> Path:
        return configs_dir() / self.config

    def argv(self, run_dir: Path) -> list[str]:
        sets = [a for o in (*self.overrides, f"name={self.key}") for a in ("--set", o)]
        return ["train", "--config", str(self.config_path()), *sets, "--out", str(run_dir)]


@dataclass(frozen=True)
class AnalysisJob:
    """One `advland analyze` call; done when `out/<done>` exists (results are atomic) and
    was made by the same command: `out/job.json` records it, so an output left by a recipe
    with other settings (an older advland, an edited recipe) is never reused as this one's.
    Outputs from before `job.json` existed carry none and are accepted."""

    name: str
    argv: tuple[str, ...]
    out: str  # relative to the reproduction root
    done: str

    def full_argv(self, root: Path) -> list[str]:
        return [*self.argv, "--out", str(root / self.out)]

    def command(self, root: Path) -> list[str]:
        """The argv with the root written as "<root>": a moved root stays valid."""
        return [a.replace(str(root), "<root>") for a in self.argv]

    def recorded(self, root: Path) -> list[str] | None:
        path = root / self.out / "job.json"
        return read_json(path)["argv"] if path.is_file() else None

    def is_stale(self, root: Path) -> bool:
        """Finished, but by another command."""
        made_by = self.recorded(root)
        return made_by is not None and made_by != self.command(root)

    def is_done(self, root: Path) -> bool:
        return (root / self.out / self.done).is_file() and not self.is_stale(root)

    def record(self, root: Path) -> None:
        atomic_write_json(root / self.out / "job.json", {"argv": self.command(root)})


def _short(key: str, value: Any) -> str:
    """A tag in a folder name: words as they are, numbers behind their key (lr0.001)."""
    if isinstance(value, str):
        return value
    return f"{key}{value:g}" if isinstance(value, float) else f"{key}{value}"


def run_dir_of(root: Path, job: TrainJob) -> Path:
    return root / "runs" / job.key


def set_args(values: Mapping[str, object]) -> tuple[str, ...]:
    """`--set key=value` for each entry, in order."""
    return tuple(a for k, v in values.items() for a in ("--set", f"{k}={v}"))


def subset_args(train_n: int, test_n: int | None = None) -> tuple[str, ...]:
    """`--train-n N [--test-n M]`: how many examples an analysis reads (0: all)."""
    test = ("--test-n", str(test_n)) if test_n is not None else ()
    return ("--train-n", str(train_n), *test)


def analysis_job(
    tool: str, root: Path, runs: Sequence[TrainJob], done: str, args: Sequence[str]
) -> AnalysisJob:
    """`advland analyze TOOL RUN... ARGS` over the run folders of `runs`, written to
    `analysis/TOOL/<first run's key>`; done once its file `done` exists."""
    key = runs[0].key
    argv = ("analyze", tool, *(str(run_dir_of(root, r)) for r in runs), *args)
    return AnalysisJob(f"{tool}-{key}", argv, f"analysis/{tool}/{key}", done)
