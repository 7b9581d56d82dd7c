"""Specs <-> Pulumi property dicts.

A Pulumi dynamic provider receives plain JSON-like values (numbers as floats, lists,
strings). :func:`to_props` flattens a spec dataclass into such values and
:func:`from_props` rebuilds (and so re-validates) the spec from them, converting by
the dataclass's type hints: ``Path``, ``int``, tuples and nested spec dataclasses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from infra.local.errors import InvalidSpecError

__all__ = ["to_props", "from_props"]

T = TypeVar("T")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_props(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def to_props(spec: Any) -> dict[str, Any]:
    """The spec's fields as JSON-like values (Paths as strings, tuples as lists)."""
    return {f.name: _plain(getattr(spec, f.name)) for f in dataclasses.fields(spec)}


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        return tuple(_convert(a, v) for a, v in zip(args, value, strict=True))
    if origin is dict:
        return dict(value)
    if origin is typing.Literal:
        return value
    if hint is Path:
        return Path(value)
    if hint is int:
        return int(value)
    if hint is float:
        return float(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_props(hint, value)
    return value


def from_props(cls: type[T], props: Mapping[str, Any]) -> T:
    """Rebuild a ``cls`` spec from property values; unknown keys are ignored."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in props:
            try:
                kwargs[f.name] = _convert(hints[f.name], props[f.name])
            except (TypeError, ValueError) as e:
                raise InvalidSpecError(f"{cls.__name__}.{f.name}: bad value: {e}") from e
    return cls(**kwargs)
