"""Robust evaluation: attack suites, per-example worst case, sanity checks, gradient-masking
diagnostics and the snapshot ensemble."""
