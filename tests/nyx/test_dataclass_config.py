"""The one dataclass loader: keys checked, types checked, nested dataclasses built."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from nyx.dataclass_config import from_mapping, read_mapping


@dataclass
class Inner:
    size: int = 1
    kind: Literal["a", "b"] = "a"


@dataclass
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    optional: Inner | None = None
    many: list[Inner] = field(default_factory=list)
    rate: float = 0.5


def test_nested_optional_and_listed_dataclasses_are_built() -> None:
    outer = from_mapping(Outer, {"name": "x", "inner": {"size": 3}, "optional": {"kind": "b"},
                                 "many": [{"size": 4}, {}], "rate": "3e-4"})
    assert outer == Outer("x", Inner(3), Inner(1, "b"), [Inner(4), Inner()], 3e-4)
    assert from_mapping(Outer, {"name": "x", "optional": None}).optional is None


@pytest.mark.parametrize(("data", "error", "message"), [
    ({"name": "x", "colour": 1}, ValueError,
     r"unknown key\(s\) \['colour'\] in outer; valid keys: \['inner', 'many', 'name', "),
    ({"name": "x", "inner": {"sise": 2}}, ValueError,
     r"unknown key\(s\) \['sise'\] in outer.inner; valid keys: \['kind', 'size'\]"),
    ({"name": "x", "many": [{}, {"sise": 2}]}, ValueError, r"\['sise'\] in outer.many\[1\]"),
    ({}, ValueError, r"missing key\(s\) \['name'\] in outer"),
    ({"name": 3}, TypeError, "outer.name must be str"),
    ({"name": "x", "inner": {"kind": "c"}}, ValueError, "outer.inner.kind must be one of"),
    ({"name": "x", "inner": 3}, ValueError, "outer.inner must be a mapping"),
    ({"name": "x", "many": {}}, TypeError, "outer.many must be a list"),
])
def test_errors_name_the_key(data: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        from_mapping(Outer, data, "outer")


def test_read_mapping(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: x\ninner: {size: 2}\n")
    assert from_mapping(Outer, read_mapping(tmp_path / "a.yaml")) == Outer("x", Inner(2))
    (tmp_path / "empty.yaml").write_text("")
    assert read_mapping(tmp_path / "empty.yaml") == {}
    (tmp_path / "list.yaml").write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="must hold a YAML mapping, got list"):
        read_mapping(tmp_path / "list.yaml")
    with pytest.raises(FileNotFoundError, match="no config file at .*nope.yaml; see examples/"):
        read_mapping(tmp_path / "nope.yaml", "see examples/")
