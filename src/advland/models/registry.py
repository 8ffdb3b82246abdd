"""Model registry: a name resolves to a builder ``(width, num_classes, in_channels, image_size)``.

A name may also be an import path, ``"my_pkg.models:wide_resnet"``: the callable is called
with the keywords of ``model.kwargs`` plus those of ``num_classes``, ``in_channels`` and
``image_size`` that its signature accepts (``model.width`` is not passed: put a width in
``model.kwargs``), and must return an
``nn.Module``.

Names are resolved only here, at the edge; the rest of the library receives an
``nn.Module``. Builders register themselves with ``@register("name", default_width=...)`` when
their module is imported by ``advland.models``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from advland.errors import UserError
from advland.imports import is_import_path, resolve

Builder = Callable[..., nn.Module]

MODELS: dict[str, Builder] = {}
_DEFAULT_WIDTHS: dict[str, int] = {}


def register(name: str, *, default_width: int = 1) -> Callable[[Builder], Builder]:
    """Decorator adding ``builder`` to ``MODELS`` under ``name`` (the paper's default width)."""

    def decorate(builder: Builder) -> Builder:
        if name in MODELS:
            raise ValueError(f"model '{name}' is registered twice")
        MODELS[name] = builder
        _DEFAULT_WIDTHS[name] = default_width
        return builder

    return decorate


def list_models() -> list[str]:
    return sorted(MODELS)


def _check_name(name: str) -> None:
    if name in MODELS:
        return
    close = difflib.get_close_matches(name, list(MODELS), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UserError(f"unknown model '{name}'; choose one of {', '.join(list_models())}{hint}")


def default_width(name: str) -> int:
    """The paper's width factor w for ``name`` (LeNet 16, VGG 8, ResNet18 8); 1 for an
    import path."""
    if is_import_path(name):
        return 1
    _check_name(name)
    return _DEFAULT_WIDTHS[name]


def build_model(
    name: str,
    *,
    width: int,
    num_classes: int = 10,
    in_channels: int = 1,
    image_size: int = 28,
    kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """Build the registered model ``name`` at width factor ``width`` (PyTorch default init),
    or call the import path ``name`` (see the module docstring)."""
    sizes = dict(num_classes=num_classes, in_channels=in_channels, image_size=image_size)
    if is_import_path(name):
        return build_imported(name, sizes, kwargs or {})
    if kwargs:
        raise UserError(
            f"model.kwargs={kwargs} is only for import-path models; registered models take "
            "model.width"
        )
    _check_name(name)
    if int(width) != width or width < 1:
        raise UserError(f"model width must be an integer >= 1, got {width!r}; e.g. width=8")
    if num_classes < 2:
        raise UserError(f"num_classes must be >= 2, got {num_classes}; pass the dataset's classes")
    if in_channels < 1:
        raise UserError(f"in_channels must be >= 1, got {in_channels}; use 1 (MNIST) or 3 (CIFAR)")
    return MODELS[name](
        width=int(width), num_classes=num_classes, in_channels=in_channels, image_size=image_size
    )


def build_imported(name: str, sizes: dict[str, Any], kwargs: dict[str, Any]) -> nn.Module:
    """Call the import path `name` with `kwargs` and the `sizes` its signature accepts."""
    fn = resolve(name, "model")
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    args = {k: v for k, v in sizes.items() if takes_any or k in params}
    args.update(kwargs)
    try:
        model = fn(**args)
    except TypeError as e:
        raise UserError(f"model '{name}' rejected its arguments {sorted(args)}: {e}") from None
    if not isinstance(model, nn.Module):
        raise UserError(
            f"model '{name}' returned {type(model).__name__}, not a torch.nn.Module; return the network"
        )
    return model
