"""Run directories: their layout, verified checkpoints, and loading a trained run."""
