"""Hessian of the adversarial loss: the HVP operator, Lanczos and power iteration, the
top-k spectrum and its normalisation by random-model losses."""
