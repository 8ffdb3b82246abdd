"""Optional metric sinks beside metrics.jsonl and dynamics.jsonl, chosen in the config:

    log: {tensorboard: true, csv: true}

- `csv`: metrics.csv and dynamics.csv in the run directory, rewritten from the JSONL files
  after every epoch (atomic), so they hold exactly the same rows, also across a resume;
- `tensorboard`: event files under `tensorboard/` (torch.utils.tensorboard): every numeric
  per-epoch value as `epoch/<key>` at step = completed epochs, every per-minibatch value
  (train.dynamics) as `batch/<key>` at the minibatch index. A resumed run purges the steps
  it replays (`purge_step`), so TensorBoard shows each step once.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from advland.config import LogConfig
from advland.errors import UserError
from advland.fileio import atomic_write_text, read_jsonl


class Sinks:
    """The sinks of one training session; `epoch` after each epoch's JSONL lines."""

    def __init__(self, cfg: LogConfig, run_dir: Path, epoch: int, first_step: int):
        self.cfg, self.run_dir = cfg, run_dir
        self.writers: dict[str, Any] = {}
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UserError(
                    "log.tensorboard needs the tensorboard package: pip install 'advland[tensorboard]'"
                ) from None
            root = run_dir / "tensorboard"
            self.writers = {
                "epoch": SummaryWriter(str(root / "epoch"), purge_step=epoch + 1),
                "batch": SummaryWriter(str(root / "batch"), purge_step=first_step),
            }

    def epoch(self, record: dict, dynamics: list[dict]) -> None:
        if self.writers:
            _scalars(self.writers["epoch"], "epoch", record, record["epoch"])
            for row in dynamics:
                _scalars(self.writers["batch"], "batch", row, row["step"])
            for w in self.writers.values():
                w.flush()
        if self.cfg.csv:
            for name in ("metrics", "dynamics"):
                path = self.run_dir / f"{name}.jsonl"
                if path.is_file():
                    atomic_write_text(self.run_dir / f"{name}.csv", to_csv(read_jsonl(path)))

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def _scalars(writer: Any, scope: str, row: dict, step: int) -> None:
    for key, value in row.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            writer.add_scalar(f"{scope}/{key}", value, step)


def to_csv(rows: list[dict]) -> str:
    keys: list[str] = []
    for r in rows:  # validation columns appear only on epochs that validate
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
