"""Configs as dataclasses: read from YAML / JSON, built from a mapping with every key checked.

One loader for every dataclass config (training runs, research-question specs): a key the
dataclass does not have is an error naming it and the valid keys, a missing required key is an
error naming it, values are checked against the field's type, and nested dataclasses (also in
lists and optional fields) are built from their own mappings.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

__all__ = ["from_mapping", "read_mapping"]

T = TypeVar("T")


def read_mapping(path: str | os.PathLike[str], hint: str = "") -> dict[str, Any]:
    """The mapping a YAML (or JSON) file holds; an empty file is an empty mapping.

    ``hint`` is added to the error when the file is missing (where to find examples)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no config file at {path}{'; ' + hint if hint else ''}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a YAML mapping, got {type(data).__name__}")
    return data


def from_mapping(cls: type[T], data: Any, where: str = "config") -> T:
    """An instance of the dataclass ``cls`` from ``data``; ``where`` names it in errors
    (``config.optim``)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)  # type: ignore[arg-type]
              if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; valid keys: {sorted(fields)}")
    missing = sorted(name for name, f in fields.items() if name not in data and
                     f.default is dataclasses.MISSING and
                     f.default_factory is dataclasses.MISSING)
    if missing:
        raise ValueError(f"missing key(s) {missing} in {where}")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_mapping(hint, value, where)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ValueError(f"{where} must be one of {list(typing.get_args(hint))}, "
                             f"got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ValueError(f"{where}: {value!r} fits none of {hint}: {'; '.join(errors)}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{where} must be a list, got {value!r}")
        (arg,) = typing.get_args(hint) or (Any,)
        return [_coerce(arg, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise TypeError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if hint is float:
        # YAML 1.1 reads "3e-4" (no dot) as a string; accept it as the number it means.
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{where} must be a number, got {value!r}") from None
    if hint in (int, str, bool) and not isinstance(value, hint) or (
            hint is int and isinstance(value, bool)):
        raise TypeError(f"{where} must be {hint.__name__}, got {value!r}")
    return value
