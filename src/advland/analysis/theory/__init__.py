"""The linear-model theory of the paper's section 3: the binary logistic model
(`logistic`), its multiclass extension (`multiclass`), the 1-D sketch of Fig. 5 (`sketch`),
the tool's settings (`config`) and result types (`result`), and the numerical checks of
Proposition 1 and Theorems 1-3 (`checks`, built from `checks_binary`, `checks_multiclass`
and `checks_sketch`).

`advland.analysis.theory.TheoryConfig` and `.run_theory` resolve for one more release, with
a DeprecationWarning naming their modules.
"""

from advland._compat import moved_attribute

_MOVED = {
    "TheoryConfig": "advland.analysis.theory.config",
    "run_theory": "advland.analysis.theory.checks",
}


def __getattr__(name: str):
    return moved_attribute(__name__, _MOVED, name)
