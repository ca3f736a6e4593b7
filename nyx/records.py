"""Validating what a jsonl/json record may carry as metadata: JSON values, finite, bounded."""

from __future__ import annotations

import math
from typing import Any

from nyx.corpus import is_utf8

__all__ = ["MAX_METADATA_DEPTH", "RecordError", "check_metadata", "check_unicode"]

#: Metadata nested deeper than this is refused (it is stored as JSON and filtered on).
MAX_METADATA_DEPTH = 32


class RecordError(ValueError):
    """A record cannot be indexed; the message names the record and the field."""


def check_unicode(value: Any, where: str = "record") -> None:
    """Raise :class:`RecordError` naming the first key or string of ``value`` that is not valid
    Unicode text (JSON's ``"\\ud800"`` escapes decode to lone surrogates, which no UTF-8 store
    can hold). Iterative; depth is :func:`check_metadata`'s concern."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str) and not is_utf8(node):
            shown = node.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
            raise RecordError(f"{path} holds text that is not valid Unicode ({shown[:60]!s}: a "
                              "lone surrogate); fix the record")
        if isinstance(node, dict):
            for key, child in node.items():
                if isinstance(key, str) and not is_utf8(key):
                    shown = key.encode("utf-8", "backslashreplace").decode("ascii")
                    raise RecordError(f"{path} has a key that is not valid Unicode "
                                      f"({shown[:60]}: a lone surrogate); fix the record")
                stack.append((child, f"{path}.{key}"))
        elif isinstance(node, list) and len(stack) < 100_000:
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(node))


def check_metadata(value: Any, where: str = "metadata") -> None:
    """Raise :class:`RecordError` unless ``value`` is plain JSON: objects with string keys,
    lists, strings, booleans, None and finite numbers, nested at most
    :data:`MAX_METADATA_DEPTH` levels. Iterative, so any nesting is reported, not a crash."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise RecordError(f"{path} is nested more than {MAX_METADATA_DEPTH} levels deep")
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise RecordError(f"{path} has a non-string key {key!r}")
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(node))
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise RecordError(f"{path} is {node} (NaN and infinity are not allowed; use "
                                  "null or a number)")
        elif node is not None and not isinstance(node, (str, int, bool)):
            raise RecordError(f"{path} has a value of type {type(node).__name__}")
