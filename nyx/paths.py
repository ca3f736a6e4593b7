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

__all__ = ["PathRefused", "kind_of", "open_regular", "resolve_inside"]


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
