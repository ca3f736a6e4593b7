"""Crash-safe file writes: write a temp file beside the target, fsync, then rename over it.

A reader either sees the old file or the new one, never a torn one, because
`os.replace` is atomic on POSIX when source and target share a directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

__all__ = [
    "atomic_write_bytes",
    "atomic_write_chunks",
    "atomic_write_json",
    "atomic_write_stream",
    "atomic_write_text",
    "fsync_dir",
    "fsync_tree",
]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory entry table so that renames inside it survive a power cut."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems (e.g. certain network mounts) refuse dir fsync
        logger.debug("fsync not supported on directory %s", path)
    finally:
        os.close(fd)


def fsync_tree(root: str | os.PathLike[str]) -> None:
    """Fsync every file and directory under `root` (root included)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            file_path = os.path.join(dirpath, name)
            if os.path.islink(file_path):
                continue
            fd = os.open(file_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


@contextlib.contextmanager
def _atomic_file(path: str | os.PathLike[str], mode: str) -> Iterator[IO[Any]]:
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {target}: directory {target.parent} does not exist; create it first"
        )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically replace `path` with `data`."""
    with _atomic_file(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically replace `path` with UTF-8 `text`."""
    with _atomic_file(path, "w") as handle:
        handle.write(text)


def atomic_write_stream(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]
                        ) -> None:
    """Atomically replace `path` with what ``write(handle)`` writes to a binary handle (for
    writers that stream, such as FAISS's, so that nothing is built whole in memory)."""
    with _atomic_file(path, "wb") as handle:
        write(handle)


def atomic_write_chunks(path: str | os.PathLike[str], chunks: Iterable[str]) -> None:
    """Atomically replace `path` with UTF-8 text written piece by piece (never whole in
    memory)."""
    with _atomic_file(path, "w") as handle:
        for chunk in chunks:
            handle.write(chunk)


def atomic_write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2) -> None:
    """Atomically replace `path` with `data` serialised as JSON (UTF-8, keys kept in order)."""
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    atomic_write_text(path, text + "\n")
