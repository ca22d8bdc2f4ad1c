"""Start-up: skip Typer's Pydantic layer for values that need no conversion.

Typer 0.2x coerces every option value through a Pydantic ``TypeAdapter``, built on first use,
which imports Pydantic (about 60 ms, a quarter of ``cctvctl import --help``) even for a text
option whose value is already text, or a number option left at its default. This wraps each
parameter's coercion: text for a text option, a default of the exact declared number type and
None are returned as they are (so is a flag's bool); anything else (``--k 4`` from the command line, Enum choices,
parsers, bounds) goes to Typer's own adapter, unchanged. On a Typer without this layer nothing
is wrapped.
"""

from __future__ import annotations

import typing
from typing import Any

_TEXT = (str,)
_SCALARS = (int, float, bool)


def _leaf(annotation: Any) -> tuple[Any, bool] | None:
    """(leaf type, multi-valued) for str / int / float / bool, Optional[...], list[str]."""
    multi = False
    for _ in range(3):
        origin = typing.get_origin(annotation)
        if origin is typing.Union:
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return None
            annotation = args[0]
        elif origin is list:
            multi = True
            annotation = typing.get_args(annotation)[0]
        else:
            break
    if annotation in _TEXT or (annotation in _SCALARS and not multi):
        return annotation, multi
    return None


class _Passthrough:
    """A Typer runtime param that returns trivially valid values and delegates the rest."""

    def __init__(self, param, leaf: type, multi: bool):
        self._param = param
        self._leaf = leaf
        self._multi = multi
        self._full = None

    def _valid(self, value: Any) -> bool:
        if self._multi:
            return isinstance(value, (list, tuple)) and all(type(v) is self._leaf for v in value)
        return type(value) is self._leaf

    def coerce(self, value: Any, param, ctx) -> Any:
        if value is None:
            return () if (param.multiple or param.nargs == -1) else None
        if self._valid(value):
            return list(value) if self._multi else value  # a list, as Typer's own coercion gives
        if self._leaf is float and not self._multi and type(value) is int:  # a default of 5 for a float
            return float(value)
        if self._full is None:
            from typer._coercion import build_runtime_param

            self._full = build_runtime_param(self._param.type_descriptor)
        return self._full.coerce(value, param=param, ctx=ctx)


def _wrap(param) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", "absent") is not None:
        return  # not Typer's lazy coercion, or already built
    info = getattr(descriptor, "parameter_info", None)
    if info is None or getattr(info, "clamp", False) or any(
            getattr(info, name, None) is not None for name in ("parser", "click_type", "min", "max")):
        return
    leaf = _leaf(descriptor.annotation)
    if leaf is not None:
        param._runtime_param = _Passthrough(param, *leaf)


def install(command) -> None:
    """Wrap the coercion of ``command``'s parameters and of all its subcommands' (idempotent).

    The ``--help`` option is made per context, so ``get_help_option`` is wrapped too.
    """
    if getattr(command, "_cctvctl_fast", False):
        return
    for param in getattr(command, "params", ()):
        _wrap(param)
    original = getattr(command, "get_help_option", None)
    if original is not None:
        def get_help_option(ctx, _original=original):
            option = _original(ctx)
            if option is not None:
                _wrap(option)
            return option

        command.get_help_option = get_help_option
    command._cctvctl_fast = True
    for sub in getattr(command, "commands", {}).values():
        install(sub)
