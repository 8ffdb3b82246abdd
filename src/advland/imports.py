"""Import-path names: ``"my_pkg.models:wide_resnet"`` resolves to the attribute
``wide_resnet`` of the module ``my_pkg.models``.

Models and datasets can be named this way in a config (``model.name``, ``data.name``), so a
user's own code is found by name in every process that reads the config: the CLI, the
processes a sweep starts, and the Python API. The current directory is searched after
``sys.path`` (as ``python -m`` does), so a package beside the config resolves without
installing it.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

from advland.errors import UserError

_PATH = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")


def is_import_path(name: str) -> bool:
    """True for ``module.path:attribute`` (the only names containing a colon we accept)."""
    return isinstance(name, str) and ":" in name and not os.path.exists(name)


def resolve(name: str, what: str = "object") -> Any:
    """The object an import path names; a one-line UserError when it does not resolve."""
    if not _PATH.fullmatch(name):
        raise UserError(
            f"{what} '{name}' is not an import path; write 'package.module:callable', "
            "e.g. my_pkg.models:wide_resnet"
        )
    module_name, attr = name.split(":", 1)
    module = _import(module_name, name, what)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(
                f"{what} '{name}': module '{module_name}' has no attribute '{attr}'; "
                "check the name after the colon"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise UserError(f"{what} '{name}' is not callable; name a function or class")
    return obj


def _import(module_name: str, name: str, what: str):
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)  # as `python -m` does: the current directory is importable
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(
            f"{what} '{name}': cannot import module '{module_name}' ({e}); install it or "
            "run from the folder that contains it (or add it to PYTHONPATH)"
        ) from None
    except Exception as e:  # the user's module raised while importing
        raise UserError(
            f"{what} '{name}': importing '{module_name}' failed with {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}"
        ) from None
