"""Geometry of the adversarial loss: perturbation similarity, loss surfaces (batched over
grid points) and mode-connecting Bezier curves."""
