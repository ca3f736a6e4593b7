"""Fixtures for the hostile-input tests: an audit hook that records every file opened, a
folder outside the corpus holding files that must never be read, and a small build helper."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from nyx.builder import BuildOptions

_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and args and isinstance(args[0], (str, bytes)):
        path = os.fsdecode(args[0])
        _OPENED.append(path)


sys.addaudithook(_audit)  # hooks cannot be removed; it records only inside opened_files()


@contextmanager
def opened_files() -> Iterator[list[str]]:
    """Every path opened (by Python or C code going through the ``open`` audit event)."""
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


def resolved(paths: list[str]) -> set[Path]:
    out = set()
    for p in paths:
        try:
            out.add(Path(p).resolve())
        except (OSError, RuntimeError):
            out.add(Path(p))
    return out


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files beside the corpus, never to be opened: a JPEG and a text file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    Image.new("RGB", (64, 64), "red").save(folder / "secret.jpg")
    (folder / "secret.txt").write_text("TOP SECRET never index this")
    return folder


def options(lite, **kw) -> BuildOptions:
    return BuildOptions(model=lite, show_progress=False, **kw)
