"""Old module paths kept importable for one release, with a DeprecationWarning.

`MOVED` maps each old module path to the module's place in the layers
(docs/architecture.md). `install()` puts a finder on `sys.meta_path` that answers an
import of an old path with the module at its new path, so `import advland.analysis.spectrum`
still works but says where the module lives now.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

MOVED = {
    "advland.analysis.curve_eval": "advland.analysis.landscape.curve_eval",
    "advland.analysis.curve_resume": "advland.analysis.landscape.curve_resume",
    "advland.analysis.curves": "advland.analysis.landscape.curves",
    "advland.analysis.eigen": "advland.analysis.hessian.eigen",
    "advland.analysis.grouped": "advland.analysis.landscape.grouped",
    "advland.analysis.hvp": "advland.analysis.hessian.hvp",
    "advland.analysis.lanczos": "advland.analysis.hessian.lanczos",
    "advland.analysis.logistic": "advland.analysis.theory.logistic",
    "advland.analysis.multiclass": "advland.analysis.theory.multiclass",
    "advland.analysis.power": "advland.analysis.hessian.power",
    "advland.analysis.runs": "advland.runs.load",
    "advland.analysis.similarity": "advland.analysis.landscape.similarity",
    "advland.analysis.sketch": "advland.analysis.theory.sketch",
    "advland.analysis.spectrum": "advland.analysis.hessian.spectrum",
    "advland.analysis.spectrum_io": "advland.analysis.hessian.spectrum_io",
    "advland.analysis.surface": "advland.analysis.landscape.surface",
    "advland.analysis.surface_eval": "advland.analysis.landscape.surface_eval",
    "advland.analysis.theory_checks_binary": "advland.analysis.theory.checks_binary",
    "advland.analysis.theory_checks_multiclass": "advland.analysis.theory.checks_multiclass",
    "advland.analysis.theory_checks_sketch": "advland.analysis.theory.checks_sketch",
    "advland.analysis.theory_common": "advland.analysis.theory.common",
    "advland.training.checkpoint": "advland.runs.checkpoint",
    "advland.training.diagnostics": "advland.evaluation.masking",
    "advland.training.ensemble": "advland.evaluation.ensemble",
    "advland.training.evaluate": "advland.evaluation.robust",
    "advland.training.evaluate_run": "advland.evaluation.run",
    "advland.training.report": "advland.evaluation.report",
    "advland.training.rundir": "advland.runs.rundir",
    "advland.training.suites": "advland.evaluation.suites",
}


def warn_moved(old: str, new: str, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{old} has moved to {new}; the old name will be removed in the next release",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec):
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        # The module is the new one, already executed; the import system files it under
        # the old name too, so both names give the same object. It also set the module's
        # __spec__ to the old name's: put back the module's own.
        module.__spec__ = self.spec


class _KeepsMovedNames(types.ModuleType):
    """A package whose moved names (its `_MOVED` table, resolved by its `__getattr__`)
    include the name of an old submodule path: `advland.training.evaluate` is the function
    `evaluate`, and also the old path of the module `advland.evaluation.robust`. Importing
    the old path must not bind that module over the name, so the import system's binding
    of a submodule to its parent is skipped for these names."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and name in vars(self).get("_MOVED", {}):
            return
        super().__setattr__(name, value)


def _keep_moved_name(fullname: str) -> None:
    parent, _, child = fullname.rpartition(".")
    package = sys.modules.get(parent)
    if package is not None and child in vars(package).get("_MOVED", {}):
        package.__class__ = _KeepsMovedNames


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        warn_moved(fullname, new, stacklevel=4)
        _keep_moved_name(fullname)
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())


def moved_attribute(module: str, names: dict[str, str], name: str):
    """Module `__getattr__` body for names that moved: `names` maps name -> new module."""
    if name not in names:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warn_moved(f"{module}.{name}", f"{names[name]}.{name}")
    return getattr(importlib.import_module(names[name]), name)
