"""Inspectable jsonl files written line by line, so every pipeline stage can resume."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"jsonl file not found: {path}")
    with path.open() as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no}: invalid JSON ({exc.msg}); fix or delete "
                                 "the line (a resumable stage rewrites it)") from exc


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return list(iter_jsonl(path))


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write all records at once, atomically (for stages that are cheap to redo)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


class ResumableJsonl:
    """Append records to a jsonl file, skipping work whose output line already exists.

    ``key`` maps a record to the id of the unit of work it came from; :meth:`done` tells the
    stage what to skip. Stages write one line per unit, even a unit that produced nothing (with
    a status), so that resuming never redoes it. A last line cut short by a crash is dropped
    when the file is reopened.

    >>> with ResumableJsonl("out.jsonl", key=lambda r: r["chunk_id"]) as out:
    ...     for chunk in chunks:
    ...         if not out.done(chunk.id):
    ...             out.write({"chunk_id": chunk.id, ...})
    """

    def __init__(self, path: str | Path, key: Callable[[dict[str, Any]], str]) -> None:
        self.path = Path(path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: list[dict[str, Any]] = []
        self._done: set[str] = set()
        if self.path.is_file():
            self._load()
        self._file = self.path.open("a")
        self.written = 0

    def _load(self) -> None:
        lines = self.path.read_text().splitlines(keepends=True)
        good: list[str] = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    logger.warning("%s: dropping a truncated last line", self.path)
                    break
                raise ValueError(f"{self.path}:{i + 1}: invalid JSON; delete the line to "
                                 "redo that unit of work") from None
            good.append(line if line.endswith("\n") else line + "\n")
            self.records.append(record)
            self._done.add(self.key(record))
        if len(good) != len([ln for ln in lines if ln.strip()]) or (lines and
                                                                     not lines[-1].endswith("\n")):
            self.path.write_text("".join(good))

    def done(self, key: str) -> bool:
        return key in self._done

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        self.records.append(record)
        self._done.add(self.key(record))
        self.written += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ResumableJsonl:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
