"""Robust evaluation of trained models.

`suites` names the attack suites; `robust` computes the worst case over a suite; `sanity`
checks a result; `masking` looks for symptoms of gradient masking; `ensemble` is the PAS
snapshot ensemble; `report` evaluates a run's models and summarises them; `run` is
`advland evaluate`.
"""
