"""One path policy for everything Nyx reads from a corpus or serves: a regular file inside a root.

Every reader (the folder scan, markdown and jsonl/json image references, html, pdf) and the
server's ``/media`` go through :func:`resolve_inside` and :func:`open_regular`: a path is
resolved (symlinks and ``..`` included), must name a regular file (not a FIFO, device, socket or
directory) and must lie inside the root; anything else is refused with the reason, and the
caller reports it instead of opening the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["FileIdentity", "PathRefused", "kind_of", "open_beneath", "open_regular",
           "resolve_inside"]

#: (st_dev, st_ino) of a file as the scan saw it
FileIdentity = tuple[int, int]


class PathRefused(ValueError):
    """A path was refused by the policy; the message says why (shown in build summaries)."""


def resolve_inside(root: str | os.PathLike[str], ref: str | os.PathLike[str], *,
                   base: str | os.PathLike[str] | None = None) -> Path:
    """The resolved path of ``ref`` (relative to ``base``, default ``root``) if it is a regular
    file inside ``root``; raises :class:`PathRefused` naming the reason otherwise.

    Absolute references are refused: a corpus names its files relative to itself. Nothing is
    opened; only the path's components are looked up.
    """
    text = os.fspath(ref)
    if not isinstance(text, str) or not text.strip():
        raise PathRefused(f"empty path {text!r}")
    if "\x00" in text:
        raise PathRefused(f"path {text!r} contains a NUL character")
    if Path(text).is_absolute() or text.startswith("~"):
        raise PathRefused(f"{text}: absolute paths are refused; name the file relative to the "
                          "document, inside the corpus folder")
    top = Path(root).resolve()
    candidate = Path(base if base is not None else top) / text
    try:
        # Outside is outside whether or not the file exists: say so before looking it up.
        if top not in candidate.resolve().parents:
            raise PathRefused(f"{text}: points outside the corpus root (not read)")
        resolved = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise PathRefused(f"{text}: not found") from None
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        raise PathRefused(f"{text}: a symlink loop") from None
    except OSError as exc:
        raise PathRefused(f"{text}: cannot be resolved ({exc.strerror or exc})") from None
    if top not in resolved.parents:
        raise PathRefused(f"{text}: points outside the corpus root (not read)")
    try:
        mode = resolved.stat().st_mode
    except OSError as exc:
        raise PathRefused(f"{text}: unreadable ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise PathRefused(f"{text}: not a regular file ({kind_of(mode)})")
    return resolved


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file and not itself a symlink.

    ``O_NONBLOCK`` keeps a FIFO from hanging the open; the check is made on the opened file, so
    a file swapped for something else after it was resolved is still refused.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise PathRefused(f"{path}: cannot be opened ({exc.strerror or exc}; a symlink is "
                          "refused here)") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise PathRefused(f"{path}: not a regular file ({kind_of(mode)})")
    return os.fdopen(fd, "rb")


def open_beneath(root: str | os.PathLike[str], relative: str | os.PathLike[str], *,
                 identity: FileIdentity | None = None) -> BinaryIO:
    """Open the regular file ``root/relative`` without following a symlink anywhere below
    ``root``: each folder is opened relative to the one above it (``openat`` with
    ``O_NOFOLLOW``), so a folder swapped for a symlink after the scan is refused, not followed.
    With ``identity``, the opened file must still be the one the scan saw (same device and
    inode). ``root`` itself is the user's choice and may be reached through symlinks.
    """
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        raise PathRefused(f"{relative}: not a path inside the corpus")
    cloexec = getattr(os, "O_CLOEXEC", 0)
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | cloexec)
    except OSError as exc:
        raise PathRefused(f"{root}: cannot be opened ({exc.strerror or exc})") from None
    try:
        for name in parts[:-1]:
            try:
                child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | nofollow | cloexec,
                                dir_fd=fd)
            except OSError as exc:
                raise PathRefused(f"{relative}: folder {name!r} is not a plain folder any more "
                                  f"({exc.strerror or exc}; a symlink is never followed)"
                                  ) from None
            os.close(fd)
            fd = child
        try:
            leaf = os.open(parts[-1], os.O_RDONLY | nofollow | cloexec
                           | getattr(os, "O_NONBLOCK", 0), dir_fd=fd)
        except OSError as exc:
            raise PathRefused(f"{relative}: cannot be opened ({exc.strerror or exc}; a symlink "
                              "is refused here)") from None
    finally:
        os.close(fd)
    info = os.fstat(leaf)
    if not stat.S_ISREG(info.st_mode):
        os.close(leaf)
        raise PathRefused(f"{relative}: not a regular file ({kind_of(info.st_mode)})")
    if identity is not None and (info.st_dev, info.st_ino) != tuple(identity):
        os.close(leaf)
        raise PathRefused(f"{relative}: replaced by another file since the scan (not read)")
    return os.fdopen(leaf, "rb")


def kind_of(mode: int) -> str:
    """What a file mode names, in words, for messages."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a plain file"
