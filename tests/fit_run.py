"""A user's training script, run by tests/test_fit.py in a subprocess:
`python tests/fit_run.py RUN_DIR stream|device`. Calling it again on the same RUN_DIR
resumes the run (that is how `advland.fit` resumes)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).parent))

import advland
from fixtures import Digits, TinyCNN, digits_tensors

CONFIG = {
    "train": {"epochs": 3, "batch_size": 50, "periods": [0, 2, 3]},
    "eps_schedule": {"kind": "cosine", "eps_max": 0.15},
    "attack": {"eps": 0.1, "steps": 2, "step_size": 0.05},
    "optim": {"name": "sgd", "lr": 0.05},
    "eval": {"limit": 50},
}


def main(run_dir: str, path: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TinyCNN()
    if path == "stream":  # a standard DataLoader with worker processes and a user transform
        train = DataLoader(Digits("train", 300), batch_size=50, shuffle=True, num_workers=2)
        config = {**CONFIG, "data": {"loader": "stream"}}
    else:  # in-memory tensors: the device-resident loader
        train = digits_tensors("train", 300)
        config = {**CONFIG, "data": {"loader": "auto"}}
    advland.fit(model, train, config, run_dir, val_data=Digits("val", 100, shift=False))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
