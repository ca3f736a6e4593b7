"""Generational index directories: readers only ever see fully committed state.

Layout::

    root/
      CURRENT          names the live generation, e.g. "gen-000007" (written atomically)
      gen-000006/      previous generation, kept for readers that still have it open
      gen-000007/      live generation
      gen-000008/      staging generation of a writer in progress (or a crashed one)
      .lock            writer lock (see `IndexLock`)

A writer calls `begin()` to get a fresh staging directory, writes files into it and
then `commit()`: every file is fsynced, CURRENT is switched with one atomic rename,
and stale generations are removed. A crash at any point before the rename leaves
CURRENT naming the previous, complete generation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
from collections.abc import Collection
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json, atomic_write_text, fsync_dir, fsync_tree
from .lock import IndexLock

logger = logging.getLogger(__name__)

__all__ = ["CHECKSUMS_FILENAME", "CURRENT_FILENAME", "IndexDirectory", "StaleIndexError",
           "check_checksums", "write_checksums"]

CURRENT_FILENAME = "CURRENT"
#: Written into each generation at commit: the size and SHA-256 of every other file in it.
CHECKSUMS_FILENAME = "checksums.json"
_GENERATION_RE = re.compile(r"^gen-(\d{6,})$")


class StaleIndexError(RuntimeError):
    """A writer's view of an index is out of date: another writer committed since it read."""


def _generation_number(name: str) -> int | None:
    match = _GENERATION_RE.match(name)
    return int(match.group(1)) if match else None


class IndexDirectory:
    """A folder holding numbered generations of an index, one of which is live.

    Writers should hold `lock()` between `begin()` and `commit()`; readers need no lock
    and should open `current()` once and read everything from that one folder.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"IndexDirectory({str(self.root)!r})"

    def lock(self) -> IndexLock:
        """The exclusive writer lock for this directory (not yet acquired)."""
        return IndexLock(self.root)

    def current(self) -> Path | None:
        """The live generation folder, or None when nothing was committed yet."""
        name = self.current_name()
        return None if name is None else self.root / name

    def current_name(self) -> str | None:
        """Name of the live generation as written in CURRENT, or None."""
        try:
            name = (self.root / CURRENT_FILENAME).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{self.root / CURRENT_FILENAME} cannot be read ({exc}); it should "
                             "be a small file naming the live generation - rebuild the "
                             "index") from None
        if _generation_number(name) is None:
            raise ValueError(
                f"{self.root / CURRENT_FILENAME} contains {name!r}, not a generation name like "
                "'gen-000001'; restore it by hand or rebuild the index"
            )
        if not (self.root / name).is_dir():
            raise FileNotFoundError(
                f"{self.root / CURRENT_FILENAME} names {name} but {self.root / name} is missing; "
                "the index folder was modified outside Nyx - rebuild the index"
            )
        return name

    def generations(self) -> list[Path]:
        """All generation folders on disk (committed or not), oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            (number, entry)
            for entry in self.root.iterdir()
            if entry.is_dir() and (number := _generation_number(entry.name)) is not None
        ]
        return [entry for _number, entry in sorted(found)]

    def begin(self, *, copy_current: bool = True, link: Collection[str] = ()) -> Path:
        """Create and return a fresh staging generation folder.

        With `copy_current`, the live generation's files are copied in so that an
        incremental update can start from them. Files whose relative paths are listed in
        `link` are hard-linked instead of copied: only do that for files the writer will
        replace (write a new file and rename over it), never modify in place, since a
        hard link shares its bytes with the committed generation.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        existing = [_generation_number(path.name) or 0 for path in self.generations()]
        number = max(existing, default=0) + 1
        while True:
            staging = self.root / f"gen-{number:06d}"
            try:
                staging.mkdir()
                break
            except FileExistsError:  # a concurrent begin(); writers should hold the lock
                number += 1
        source = self.current()
        if copy_current and source is not None:
            self._populate(source, staging, set(link))
        logger.debug("began staging generation %s", staging)
        return staging

    @staticmethod
    def _populate(source: Path, staging: Path, link: set[str]) -> None:
        for dirpath, _dirnames, filenames in os.walk(source):
            relative_dir = Path(dirpath).relative_to(source)
            (staging / relative_dir).mkdir(parents=True, exist_ok=True)
            for name in filenames:
                relative = (relative_dir / name).as_posix()
                src, dst = Path(dirpath) / name, staging / relative_dir / name
                if relative in link:
                    os.link(src, dst)
                else:
                    shutil.copy2(src, dst)

    def commit(self, staging: str | os.PathLike[str]) -> Path:
        """Make `staging` the live generation and clean up stale ones.

        Keeps the previously live generation (a reader may still be reading it) and
        deletes every other generation, including staging folders abandoned by crashes.
        """
        staging = Path(staging)
        if (
            staging.parent.resolve() != self.root.resolve()
            or _generation_number(staging.name) is None
        ):
            raise ValueError(
                f"{staging} is not a staging generation of {self.root}; pass the path "
                "returned by IndexDirectory.begin()"
            )
        if not staging.is_dir():
            raise FileNotFoundError(f"staging generation {staging} does not exist; call begin()")
        previous = self.current_name()
        if previous == staging.name:
            raise ValueError(f"{staging} is already the live generation; call begin() first")
        write_checksums(staging)
        fsync_tree(staging)
        fsync_dir(self.root)
        atomic_write_text(self.root / CURRENT_FILENAME, staging.name + "\n")
        logger.info("committed generation %s of %s", staging.name, self.root)
        self._collect_garbage(keep={staging.name, previous})
        return staging

    def abort(self, staging: str | os.PathLike[str]) -> None:
        """Throw away an uncommitted staging generation."""
        staging = Path(staging)
        if staging.name == self.current_name():
            raise ValueError(f"refusing to delete {staging}: it is the live generation")
        shutil.rmtree(staging, ignore_errors=True)

    def _collect_garbage(self, keep: set[str | None]) -> None:
        for generation in self.generations():
            if generation.name in keep:
                continue
            logger.debug("removing stale generation %s", generation)
            shutil.rmtree(generation, ignore_errors=True)


def _digests(folder: Path, expected: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every regular file under ``folder``. Anything else (a symlink, a
    FIFO, a device) is recorded by its kind and never opened, so a planted ``/dev/zero`` link
    or a FIFO cannot make a check read forever; a file whose size differs from ``expected``
    is not read either."""
    files: dict[str, dict[str, Any]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for name in [*filenames, *(d for d in dirnames if (here / d).is_symlink())]:
            path = here / name
            relative = path.relative_to(folder).as_posix()
            if relative == CHECKSUMS_FILENAME:
                continue
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                files[relative] = {"kind": kind_name(info.st_mode)}
                continue
            known = (expected or {}).get(relative)
            if isinstance(known, dict) and known.get("size") != info.st_size:
                files[relative] = {"size": info.st_size, "sha256": "(not read: size differs)"}
                continue
            digest = hashlib.sha256()
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lstat
                os.close(fd)
                files[relative] = {"kind": "special file"}
                continue
            with os.fdopen(fd, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            files[relative] = {"size": info.st_size, "sha256": digest.hexdigest()}
    return files


def special_files(folder: str | os.PathLike[str]) -> list[str]:
    """``"name (kind)"`` for every entry under ``folder`` that is not a regular file or a real
    folder (symlinks, FIFOs, devices, sockets); none of them is opened."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for name in [*filenames, *dirnames]:
            mode = (here / name).lstat().st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                found.append(f"{(here / name).relative_to(folder).as_posix()} "
                             f"({kind_name(mode)})")
    return sorted(found)


def kind_name(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "folder")):
        if test(mode):
            return name
    return "special file"


def write_checksums(folder: str | os.PathLike[str]) -> None:
    """Record the size and SHA-256 of every file of a generation (done by `commit`)."""
    folder = Path(folder)
    atomic_write_json(folder / CHECKSUMS_FILENAME, {"files": _digests(folder)})


def check_checksums(folder: str | os.PathLike[str]) -> list[str]:
    """Every difference between a generation and the checksums written at its commit:
    changed, missing and added files. One line each; empty when nothing changed."""
    folder = Path(folder)
    try:
        recorded = json.loads((folder / CHECKSUMS_FILENAME).read_text(encoding="utf-8"))
        expected = recorded["files"]
        if not isinstance(expected, dict):
            raise TypeError("'files' is not an object")
    except FileNotFoundError:
        return [f"{folder.name}/{CHECKSUMS_FILENAME} is missing (indexes committed by older "
                "releases lack it; rebuild or re-save the index to add it)"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{folder.name}/{CHECKSUMS_FILENAME} is damaged ({exc})"]
    actual = _digests(folder, expected)
    problems = [f"{folder.name}/{name} is not a regular file ({entry['kind']}); it was never "
                "opened" for name, entry in sorted(actual.items()) if "kind" in entry]
    actual = {name: entry for name, entry in actual.items() if "kind" not in entry}
    problems += [f"{folder.name}/{name} is missing"
                 for name in sorted(set(expected) - set(actual))]
    problems += [f"{folder.name}/{name} was added after the commit"
                 for name in sorted(set(actual) - set(expected))]
    problems += [f"{folder.name}/{name} changed since the commit (checksum differs)"
                 for name in sorted(set(expected) & set(actual)) if expected[name] != actual[name]]
    return problems
