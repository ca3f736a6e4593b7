"""Exclusive single-writer lock for an index directory.

The lock is an `fcntl.flock` on `<dir>/.lock`. The kernel drops a flock when the
holding process exits for any reason (including SIGKILL), so a crashed writer never
leaves a stale lock behind; the PID written into the file is only informational.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

__all__ = ["LOCK_FILENAME", "IndexLock", "IndexLockedError"]

LOCK_FILENAME = ".lock"


class IndexLockedError(RuntimeError):
    """Another writer holds the lock on an index directory."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        holder = f"PID {pid}" if pid is not None else "another process"
        super().__init__(
            f"index at {directory} is locked by {holder} (another writer is updating it); "
            "wait for that process to finish, or stop it, then retry. Readers do not need the lock."
        )
        self.directory = directory
        self.pid = pid


class IndexLock:
    """Non-blocking exclusive writer lock on `directory/.lock`.

    Use as a context manager::

        with IndexLock(index_dir):
            ...  # only this process writes here

    Acquiring fails immediately with `IndexLockedError` naming the holder's PID.
    A second `IndexLock` on the same directory in the *same* process also fails,
    because flock locks belong to open file descriptions, not processes.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILENAME
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        """Whether this object currently holds the lock."""
        return self._fd is not None

    def acquire(self) -> IndexLock:
        """Take the lock or raise `IndexLockedError` at once."""
        if self._fd is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IndexLockedError(self.directory, read_lock_pid(self.path)) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd
        logger.debug("locked %s (pid %d)", self.directory, os.getpid())
        return self

    def release(self) -> None:
        """Release the lock; a no-op when not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            # Clear the PID first so nobody blames us after we are gone. The file itself
            # stays: unlinking it would let two processes lock two different inodes.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        logger.debug("unlocked %s", self.directory)

    def __enter__(self) -> IndexLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)

    def __repr__(self) -> str:
        return f"IndexLock({str(self.directory)!r}, locked={self.locked})"


def read_lock_pid(path: str | os.PathLike[str]) -> int | None:
    """PID written in a lock file, or None when it is empty or unreadable."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
