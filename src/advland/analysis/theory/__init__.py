"""The linear-model theory of the paper's section 3: the binary logistic model
(`logistic`), its multiclass extension (`multiclass`), the 1-D sketch of Fig. 5 (`sketch`)
and the numerical checks of Proposition 1 and Theorems 1-3 (`checks`).

`advland.analysis.theory` was a module before; its names still resolve here, with a
DeprecationWarning.
"""

from advland._compat import moved_attribute

_MOVED = {
    "TheoryConfig": "advland.analysis.theory.checks",
    "run_theory": "advland.analysis.theory.checks",
}


def __getattr__(name: str):
    return moved_attribute(__name__, _MOVED, name)
