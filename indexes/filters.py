"""Metadata filters shared by every backend, and the one filter grammar of every interface.

A filter is a conjunction (AND) of conditions, one per metadata key. It is written either as
a dict (JSON: the HTTP POST body, the MCP/OpenAI ``search`` tool, Python)::

    {"lang": "en"}                          equality (a string here is always literal)
    {"tag": {"any": ["a", "b"]}}            any-of
    {"year": {"gte": 2000, "lt": 2020}}     numeric range (gt / gte / lt / lte)
    {"source": {"glob": "doc/*.md"}}        glob on strings: * any run of characters
                                            (``/`` included), ? one character
    {"source": {"prefix": "doc/"}}          string prefix (nothing is a wildcard)

or as expressions (the CLI's ``--filter``, the HTTP query string, a string ``filter`` in a
tool call, ``Filter.coerce("...")``), several separated by ``;`` or given as a list::

    lang=en                 equality; a bare number is a number: year=2004, rating=3.5
    code="007"              a quoted value ('...' or "...") is a literal string
    tag=a|b                 any of the alternatives
    year>=2000; year<2020   ranges: >, >=, <, <= take one number; bounds on a key merge
    source=doc/*            an unquoted value with * or ? is a glob (case-sensitive)
    title="What?"           quoted: * and ? are literal

Each key takes one condition (range bounds on one key merge; a glob is not an alternative in
``a|b``). The HTTP query string reads a ``filter`` that starts with ``{`` as the JSON form.
The Qdrant backend matches a prefix (``doc/*``) but refuses other globs.

The operators are exactly ``=  >  >=  <  <=``. A malformed expression is an error naming it:
an unknown operator (``year=>2024``: write ``year>=2024``), a range on a non-number, an
empty key or value, an unclosed quote. To match a value that starts with ``= < > !`` or
contains ``;`` or ``|``, quote it. ``Filter.coerce`` takes any of these forms; a
``Retriever`` search also refuses a key that no stored document has
(:meth:`DocStore.check_filter <nyx.indexes.docstore.DocStore.check_filter>`).

When a stored metadata value is a list, a condition matches if *any* element matches
(the same rule Qdrant applies). Types are compared strictly, as Qdrant does: `True`
does not equal `1`, strings never fall in a numeric range, and globs and prefixes match
strings only. Equality on a float becomes the closed range `[x, x]`, because exact-match
conditions take str/int/bool.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["AnyOf", "Condition", "Equals", "Filter", "FilterLike", "Glob", "Prefix", "Range",
           "Scalar", "parse_cli_condition", "parse_expressions"]

Scalar: TypeAlias = "str | int | bool"
_RANGE_OPS = ("gt", "gte", "lt", "lte")
_PATTERN_OPS = ("glob", "prefix")
_CLI_OPS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}
_NO_NEGATION = "there is no negation: list the values you want, as key=a|b"
#: what a mistyped operator most likely meant
_OPERATOR_FIXES = {"=>": ">=", "=<": "<=", "==": "=", "=>=": ">=", "=<=": "<=", ">==": ">=",
                   "<==": "<=", "!=": _NO_NEGATION,
                   "<>": _NO_NEGATION}
_KEY_OP = re.compile(r"\s*([^=<>!;]*?)\s*([=<>!]+)")
_QUOTED = re.compile(r"\s*(?:\"([^\"]*)\"|'([^']*)')\s*")
_BARE = re.compile(r"[^;|]*")
_WILDCARDS = frozenset("*?")


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


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class Glob:
    """`key` is a string matching `pattern` in full: `*` is any run of characters (`/`
    included), `?` one character, nothing else is special; case-sensitive."""

    key: str
    pattern: str

    @property
    def prefix(self) -> str | None:
        """The literal prefix when the pattern is ``literal*`` (a prefix match), else None."""
        head = self.pattern[:-1]
        if self.pattern.endswith("*") and not _WILDCARDS & set(head):
            return head
        return None

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        values = _stored_values(metadata, self.key)
        regex = _glob_regex(self.pattern)
        return values is not None and any(
            isinstance(v, str) and regex.fullmatch(v) is not None for v in values)

    def to_dict(self) -> Any:
        return {"glob": self.pattern}


@dataclass(frozen=True)
class Prefix:
    """`key` is a string starting with `prefix` (taken literally; case-sensitive)."""

    key: str
    prefix: str

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        values = _stored_values(metadata, self.key)
        return values is not None and any(
            isinstance(v, str) and v.startswith(self.prefix) for v in values)

    def to_dict(self) -> Any:
        return {"prefix": self.prefix}


Condition: TypeAlias = "Equals | AnyOf | Range | Glob | Prefix"


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
                f"filter key {key!r}: unknown operator {op!r}; use 'any', 'glob', 'prefix' "
                f"or range operators {', '.join(_RANGE_OPS)}"
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
        raise ValueError(f"filter key {key!r}: empty condition {{}}; give 'any', 'glob', "
                         "'prefix' or a bound")
    return Range(key, **bounds)


def _parse_pattern(key: str, spec: Mapping[str, Any]) -> Glob | Prefix:
    op = next(op for op in _PATTERN_OPS if op in spec)
    if len(spec) > 1:
        raise ValueError(f"filter key {key!r}: {op!r} cannot be combined with {sorted(spec)}; "
                         "use separate filters")
    pattern = spec[op]
    if not isinstance(pattern, str):
        raise ValueError(f"filter key {key!r}: {op!r} needs a string, got {_short(pattern)}")
    return Glob(key, pattern) if op == "glob" else Prefix(key, pattern)


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
        if any(op in spec for op in _PATTERN_OPS):
            return _parse_pattern(key, spec)
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


def _bare_value(text: str) -> Scalar | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _expression_at(text: str, start: int) -> str:
    """The expression starting at `start` (up to the next `;`), for error messages."""
    end = text.find(";", start)
    return text[start:end if end >= 0 else len(text)].strip()


def _read_values(text: str, pos: int, expr: str) -> tuple[list[tuple[str, bool]], int]:
    """The `|`-separated values from `pos` as (text, quoted) pairs, and where they end."""
    values: list[tuple[str, bool]] = []
    while True:
        quoted = _QUOTED.match(text, pos)
        if quoted is not None and (quoted.end() == len(text) or text[quoted.end()] in ";|"):
            values.append((quoted.group(1) if quoted.group(1) is not None
                           else quoted.group(2), True))
            pos = quoted.end()
        else:
            bare = _BARE.match(text, pos)
            assert bare is not None  # the pattern matches the empty string
            value = bare.group().strip()
            if value[:1] in ("'", '"'):
                raise ValueError(f"filter {expr!r}: the quote in {value!r} is not closed (or "
                                 "text follows it); write key=\"a value\"")
            values.append((value, False))
            pos = bare.end()
        if pos < len(text) and text[pos] == "|":
            pos += 1
            continue
        return values, pos


def _condition(expr: str, key: str, op: str, values: list[tuple[str, bool]]) -> Any:
    """The dict-form condition for one parsed expression."""
    stray = next((v for v, quoted in values if not quoted and v[:1] and v[0] in "=<>!"), None)
    shown = op
    if stray is not None:  # `key = >3`: the operator is split by a space
        extra = stray[:len(stray) - len(stray.lstrip("=<>!"))]
        op, shown = op + extra, f"{op} {extra}"
    if stray is not None or op not in _CLI_OPS and op != "=":
        rest = (stray or values[0][0]).lstrip("=<>!") or "VALUE"
        fix = op if op in _CLI_OPS else _OPERATOR_FIXES.get(op, "")
        hint = (f"write {key}{fix}{rest}" if fix[:1] in ("=", "<", ">") and fix else
                fix or 'quote a value that starts with = < > !, as key="=x"')
        raise ValueError(f"filter {expr!r}: unknown operator {shown!r}; {hint} "
                         "(the operators are = > >= < <=)")
    if any(not value and not quoted for value, quoted in values):
        if len(values) > 1:
            raise ValueError(f"filter {expr!r} has an empty alternative; write {key}=a|b "
                             "with a value on each side of |")
        raise ValueError(f"filter {expr!r} has no value after {op!r}; write {key}{op}VALUE")
    if op != "=":
        if len(values) > 1:
            raise ValueError(f"filter {expr!r}: {op} takes one number, not a|b")
        value, quoted = values[0]
        bound = value if quoted else _bare_value(value)
        if not _is_number(bound):
            raise ValueError(f"filter {expr!r}: {value!r} is not a number; {op} needs a number "
                             f"(write {key}={value!r} to compare strings)")
        return {_CLI_OPS[op]: bound}
    globs = [value for value, quoted in values if not quoted and _WILDCARDS & set(value)]
    if globs and len(values) > 1:
        raise ValueError(f"filter {expr!r}: a glob ({globs[0]!r}) cannot be one of a|b; "
                         "give one pattern, or quote the values to match * and ? literally")
    if globs:
        return {"glob": globs[0]}
    parsed = [value if quoted else _bare_value(value) for value, quoted in values]
    return {"any": parsed} if len(parsed) > 1 else parsed[0]


def parse_expressions(text: str) -> list[tuple[str, Any]]:
    """Parse `;`-separated expressions (``year>=2000; lang=en|de``) into (key, dict-form
    condition) pairs; raises ValueError naming a malformed expression and the fix."""
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if text[pos] in "; \t\r\n":
            pos += 1
            continue
        expr = _expression_at(text, pos)
        head = _KEY_OP.match(text, pos)
        if head is None:
            raise ValueError(f"cannot parse filter {expr!r}: no operator; write key=value, "
                             "key=a|b, key=prefix*, or key>=N (also >, <, <=)")
        key, op = head.groups()
        if not key:
            raise ValueError(f"filter {expr!r} has no key before {op!r}; write key{op}VALUE")
        values, pos = _read_values(text, head.end(), expr)
        out.append((key, _condition(expr, key, op, values)))
    return out


def parse_cli_condition(text: str) -> tuple[str, Any]:
    """Parse one expression (`key=value`, `key>=3`, `key=a|b`, `key=doc/*`) into a dict
    entry; see the module docstring for the grammar."""
    parsed = parse_expressions(text)
    if len(parsed) != 1:
        raise ValueError(f"cannot parse filter {text!r}: expected one condition such as "
                         f"key=value, got {len(parsed)}")
    return parsed[0]


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
    def from_cli(cls, expressions: str | Sequence[str]) -> Filter:
        """Build a filter from expressions (one string, `;`-separated, or a list of them;
        the grammar is in the module docstring); range bounds on one key are merged."""
        if isinstance(expressions, str):
            expressions = [expressions]
        spec: dict[str, Any] = {}
        for text, (key, value) in ((t, kv) for t in expressions
                                   for kv in parse_expressions(t)):
            previous = spec.get(key)
            both_ranges = (isinstance(previous, dict) and isinstance(value, dict)
                           and set(previous) | set(value) <= set(_RANGE_OPS))
            if both_ranges:
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
        """Accept a Filter, a dict, expressions (a string, `;`-separated, or a list of
        strings) or None; an empty filter becomes None."""
        if value is None:
            return None
        if isinstance(value, Filter):
            parsed = value
        elif isinstance(value, str) or (isinstance(value, Sequence) and all(
                isinstance(v, str) for v in value)):
            parsed = cls.from_cli(value)
        else:
            parsed = cls.parse(value)
        return parsed if parsed.conditions else None

    def check_keys(self, known: Collection[str]) -> None:
        """Raise ValueError naming the first key not in `known` (the metadata fields some
        document has) and listing those."""
        for key in self.keys:
            if key not in known:
                fields = ", ".join(sorted(known)) or "(none: no document has metadata)"
                raise ValueError(f"no document has metadata field {key!r}; fields: {fields}")

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


FilterLike: TypeAlias = "Filter | Mapping[str, Any] | str | Sequence[str] | None"
