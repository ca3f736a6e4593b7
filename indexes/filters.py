"""Metadata filters shared by every backend.

A filter is parsed from a dict whose keys are ANDed::

    {"lang": "en"}                          equality
    {"tag": {"any": ["a", "b"]}}            any-of
    {"year": {"gte": 2000, "lt": 2020}}     numeric range (gt / gte / lt / lte)

When a stored metadata value is a list, a condition matches if *any* element matches
(the same rule Qdrant applies). Types are compared strictly, as Qdrant does: `True`
does not equal `1`, and strings never fall in a numeric range. Equality on a float
becomes the closed range `[x, x]`, because exact-match conditions take str/int/bool.

From a command line, `Filter.from_cli(["lang=en", "year>=2000", "tag=a|b"])` gives the
same filter; numbers are auto-detected, wrap a value in quotes to keep it a string.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["AnyOf", "Condition", "Equals", "Filter", "FilterLike", "Range", "Scalar"]

Scalar: TypeAlias = "str | int | bool"
_RANGE_OPS = ("gt", "gte", "lt", "lte")
_CLI_RE = re.compile(r"^\s*([^=<>!\s][^=<>!]*?)\s*(>=|<=|>|<|=)\s*(.*?)\s*$")
_CLI_OPS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}


def _same_value(stored: Any, wanted: Scalar) -> bool:
    # bool is a subclass of int and 1 == 1.0 in Python; Qdrant keeps the types apart.
    if isinstance(stored, bool) != isinstance(wanted, bool):
        return False
    if isinstance(stored, float):
        return False
    return bool(stored == wanted)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _stored_values(metadata: Mapping[str, Any], key: str) -> list[Any] | None:
    if key not in metadata:
        return None
    value = metadata[key]
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass(frozen=True)
class Equals:
    """`key` equals `value` (or, for a list value, contains it)."""

    key: str
    value: Scalar

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        values = _stored_values(metadata, self.key)
        return values is not None and any(_same_value(v, self.value) for v in values)

    def to_dict(self) -> Any:
        return self.value


@dataclass(frozen=True)
class AnyOf:
    """`key` equals one of `values` (or, for a list value, shares an element with them)."""

    key: str
    values: tuple[Scalar, ...]

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        stored = _stored_values(metadata, self.key)
        if stored is None:
            return False
        return any(_same_value(v, wanted) for v in stored for wanted in self.values)

    def to_dict(self) -> Any:
        return {"any": list(self.values)}


@dataclass(frozen=True)
class Range:
    """`key` is a number within the given bounds (unset bounds are open)."""

    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def _inside(self, value: Any) -> bool:
        if not _is_number(value):
            return False
        return (
            (self.gt is None or value > self.gt)
            and (self.gte is None or value >= self.gte)
            and (self.lt is None or value < self.lt)
            and (self.lte is None or value <= self.lte)
        )

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        values = _stored_values(metadata, self.key)
        return values is not None and any(self._inside(v) for v in values)

    def to_dict(self) -> Any:
        return {op: getattr(self, op) for op in _RANGE_OPS if getattr(self, op) is not None}


Condition: TypeAlias = "Equals | AnyOf | Range"


#: integers a filter may hold: what SQLite, Qdrant and float comparisons all represent
INT_LIMIT = 2**63


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _check_int_range(key: str, value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and not (
            -INT_LIMIT <= value < INT_LIMIT):
        raise ValueError(f"filter key {key!r}: {what} {_short(value)} is outside the 64-bit "
                         "integer range; use a smaller number")


def _check_scalar(key: str, value: Any, what: str) -> Scalar:
    _check_int_range(key, value, what)
    if isinstance(value, (str, bool, int)):
        return value
    raise ValueError(
        f"filter key {key!r}: {what} {value!r} has type {type(value).__name__}; "
        "use a str, int or bool (use a range such as {'gte': x, 'lte': x} for floats)"
    )


def _parse_any(key: str, values: Any) -> AnyOf:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(
            f"filter key {key!r}: 'any' needs a list of values, got {values!r}; "
            f"write {{{key!r}: {{'any': [{values!r}]}}}}"
        )
    checked = tuple(_check_scalar(key, v, "'any' value") for v in values)
    if not checked:
        raise ValueError(f"filter key {key!r}: 'any' got an empty list; give at least one value")
    kinds = {type(v) for v in checked}
    if len(kinds) > 1:
        raise ValueError(
            f"filter key {key!r}: 'any' values {list(checked)!r} mix types "
            f"{sorted(k.__name__ for k in kinds)}; use values of one type"
        )
    return AnyOf(key, checked)


def _parse_range(key: str, spec: Mapping[str, Any]) -> Range:
    bounds: dict[str, float] = {}
    for op, bound in spec.items():
        if op not in _RANGE_OPS:
            raise ValueError(
                f"filter key {key!r}: unknown operator {op!r}; use 'any' or range operators "
                f"{', '.join(_RANGE_OPS)}"
            )
        if not _is_number(bound):
            raise ValueError(
                f"filter key {key!r}: bound {op}={_short(bound)} is not a number; "
                "range bounds must be int or float"
            )
        _check_int_range(key, bound, f"bound {op}=")
        if math.isnan(bound):
            raise ValueError(f"filter key {key!r}: bound {op}=NaN never matches; remove it")
        bounds[op] = bound
    if not bounds:
        raise ValueError(f"filter key {key!r}: empty condition {{}}; give 'any' or a bound")
    return Range(key, **bounds)


def _parse_condition(key: Any, spec: Any) -> Condition:
    if not isinstance(key, str) or not key:
        raise ValueError(f"filter key {key!r} must be a non-empty string")
    if isinstance(spec, Mapping):
        if "any" in spec:
            if len(spec) > 1:
                raise ValueError(
                    f"filter key {key!r}: 'any' cannot be combined with {sorted(spec)}; "
                    "use separate filters"
                )
            return _parse_any(key, spec["any"])
        return _parse_range(key, spec)
    if isinstance(spec, (list, tuple, set, frozenset)):
        raise ValueError(
            f"filter key {key!r}: got a bare list {spec!r}; write {{'any': [...]}} for any-of"
        )
    if isinstance(spec, float):
        if math.isnan(spec):
            raise ValueError(f"filter key {key!r}: value NaN never matches; remove it")
        return Range(key, gte=spec, lte=spec)
    return Equals(key, _check_scalar(key, spec, "value"))


def _parse_cli_value(text: str) -> Scalar | float:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def parse_cli_condition(text: str) -> tuple[str, Any]:
    """Parse one CLI condition (`key=value`, `key>=3`, `key=a|b`) into a dict entry."""
    match = _CLI_RE.match(text)
    if match is None:
        raise ValueError(
            f"cannot parse filter {text!r}; write key=value, key=a|b, or key>=N (also >, <, <=)"
        )
    key, op, raw = match.groups()
    if raw == "":
        raise ValueError(f"filter {text!r} has no value after {op!r}; write {key}{op}VALUE")
    if op == "=":
        parts = [_parse_cli_value(part.strip()) for part in raw.split("|")]
        return (key, {"any": parts}) if len(parts) > 1 else (key, parts[0])
    bound = _parse_cli_value(raw)
    if not _is_number(bound):
        raise ValueError(f"filter {text!r}: {raw!r} is not a number; {op} needs a number")
    return key, {_CLI_OPS[op]: bound}


@dataclass(frozen=True)
class Filter:
    """A conjunction (AND) of metadata conditions."""

    conditions: tuple[Condition, ...] = ()

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> Filter:
        """Build a filter from a dict; raises ValueError naming the bad key and value."""
        if not isinstance(spec, Mapping):
            raise ValueError(
                f"filter must be a dict such as {{'lang': 'en'}}, got {type(spec).__name__}"
            )
        return cls(tuple(_parse_condition(key, value) for key, value in spec.items()))

    @classmethod
    def from_cli(cls, expressions: Sequence[str]) -> Filter:
        """Build a filter from CLI strings; range bounds on one key are merged."""
        spec: dict[str, Any] = {}
        for text in expressions:
            key, value = parse_cli_condition(text)
            previous = spec.get(key)
            both_ranges = isinstance(previous, dict) and isinstance(value, dict)
            if both_ranges and "any" not in previous and "any" not in value:
                if set(previous) & set(value):
                    raise ValueError(f"filter {text!r} repeats a bound already given for {key!r}")
                previous.update(value)
            elif previous is not None:
                raise ValueError(
                    f"filter {text!r}: key {key!r} already has a condition; "
                    "combine values as key=a|b"
                )
            else:
                spec[key] = value
        return cls.parse(spec)

    @classmethod
    def coerce(cls, value: FilterLike) -> Filter | None:
        """Accept a Filter, a dict or None; an empty filter becomes None."""
        if value is None:
            return None
        parsed = value if isinstance(value, Filter) else cls.parse(value)
        return parsed if parsed.conditions else None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(condition.key for condition in self.conditions)

    def matches(self, metadata: Mapping[str, Any] | None) -> bool:
        """Whether a metadata dict satisfies every condition."""
        metadata = metadata or {}
        return all(condition.matches(metadata) for condition in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        """The dict form accepted by `Filter.parse` (round-trips)."""
        return {condition.key: condition.to_dict() for condition in self.conditions}

    def __bool__(self) -> bool:
        return bool(self.conditions)


FilterLike: TypeAlias = "Filter | Mapping[str, Any] | None"
