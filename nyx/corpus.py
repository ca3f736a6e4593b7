"""Scanning a folder of mixed documents: what will be read (``nyx.readers`` reads each file),
and every file that will not be, with the reason."""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from nyx.paths import FileIdentity, kind_of, open_beneath, open_regular

logger = logging.getLogger(__name__)

#: Read as plain text (chunked by words): prose and markup read as text, tables, subtitles,
#: configuration and logs. ``nyx-index build --include-ext`` adds more.
PLAIN_TEXT_SUFFIXES = frozenset({
    ".txt", ".text", ".rst", ".rest", ".adoc", ".asciidoc", ".org", ".tex", ".bib", ".log",
    ".csv", ".tsv", ".srt", ".vtt", ".ini", ".cfg", ".conf", ".toml", ".yaml", ".yml",
    ".properties", ".diff", ".patch"})
#: Source code, read as plain text too.
SOURCE_SUFFIXES = frozenset({
    ".py", ".pyi", ".ipynb", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".c", ".h", ".cc",
    ".cpp", ".cxx", ".hpp", ".hh", ".java", ".kt", ".kts", ".scala", ".go", ".rs", ".rb",
    ".php", ".pl", ".pm", ".lua", ".r", ".jl", ".swift", ".m", ".cs", ".fs", ".dart", ".hs",
    ".ml", ".mli", ".erl", ".ex", ".exs", ".clj", ".el", ".lisp", ".scm", ".sh", ".bash",
    ".zsh", ".fish", ".ps1", ".bat", ".sql", ".css", ".scss", ".less", ".vue", ".svelte",
    ".cmake", ".mk", ".gradle", ".proto", ".graphql", ".vim", ".nix", ".tf"})
#: Every extension read, and its reader (``nyx.readers``); files without a known extension
#: (``README``, ``NEWS.Debian``) are read as text when their first 64 KB are UTF-8 text.
TEXT_SUFFIXES: dict[str, str] = {
    ".md": "markdown", ".markdown": "markdown", ".jsonl": "jsonl", ".json": "json",
    ".html": "html", ".htm": "html", ".pdf": "pdf",
    **{suffix: "text" for suffix in sorted(PLAIN_TEXT_SUFFIXES | SOURCE_SUFFIXES)}}
CORPUS_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}
#: how much of a file without a known type is read to tell whether it is text
SNIFF_BYTES = 65536
#: Folders nested deeper than this under the corpus root are reported, not scanned.
MAX_DEPTH = 256


@dataclass(frozen=True)
class ReadOptions:
    """Which files of a folder are read, beyond :data:`TEXT_SUFFIXES` and images; recorded in
    the index's manifest, so that the next build of the same index reads the same files."""

    #: more extensions read as plain text (``".nfo"``; the dot is optional)
    include_ext: tuple[str, ...] = ()
    #: glob patterns of what is not read: a pattern without ``/`` matches any file or folder
    #: name (``node_modules``, ``*.min.js``), one with ``/`` the path from the corpus root
    #: (``doc/*/changelog``, ``build/``); an excluded folder is not descended into
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        exts = []
        for ext in self.include_ext:
            clean = ext.strip().lower()
            clean = clean if clean.startswith(".") else "." + clean
            if len(clean) < 2 or any(c in clean[1:] for c in "/\\*?[]") or clean.count(".") > 1:
                raise ValueError(f"--include-ext {ext!r} is not a file extension: give one "
                                 "like .nfo or nfo")
            exts.append(clean)
        for pattern in self.exclude:
            if not pattern.strip() or pattern.startswith("/") or ".." in pattern.split("/"):
                raise ValueError(f"--exclude {pattern!r}: give a name or a path relative to "
                                 "the corpus folder, like node_modules or docs/old/*")
        object.__setattr__(self, "include_ext", tuple(sorted(set(exts))))
        object.__setattr__(self, "exclude", tuple(dict.fromkeys(self.exclude)))

    def kind_of(self, suffix: str) -> str | None:
        """The reader for an extension added by :attr:`include_ext`, else ``None``."""
        return "text" if suffix in self.include_ext else None

    def excluded_by(self, rel: str, *, folder: bool = False) -> str | None:
        """The first pattern of :attr:`exclude` matching ``rel``, or ``None``."""
        name = rel.rsplit("/", 1)[-1]
        for pattern in self.exclude:
            bare = pattern.rstrip("/")
            if pattern.endswith("/") and not folder:
                continue
            if "/" in bare:
                if fnmatch.fnmatchcase(rel, bare):
                    return pattern
            elif fnmatch.fnmatchcase(name, bare):
                return pattern
        return None

    def to_dict(self) -> dict[str, list[str]]:
        return {"include_ext": list(self.include_ext), "exclude": list(self.exclude)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ReadOptions:
        data = data or {}
        return cls(tuple(data.get("include_ext") or ()), tuple(data.get("exclude") or ()))


class SourceError(ValueError):
    """A source file cannot be indexed; the message is the reason shown in the summary."""


@dataclass
class SourceFile:
    rel: str
    path: Path
    kind: str
    size: int
    mtime: float
    content_hash: str = ""
    #: the corpus root the scan started from, and the file's (device, inode) as it saw it:
    #: reads then open the file beneath the root without following any symlink and refuse a
    #: file swapped since the scan
    root: Path | None = None
    identity: FileIdentity | None = None

    def open(self) -> BinaryIO:
        """The file for reading: the very file the scan listed, or :class:`PathRefused`."""
        if self.root is None:
            return open_regular(self.path)
        return open_beneath(self.root, self.rel, identity=self.identity)

    def compute_hash(self) -> str:
        h = hashlib.sha256()
        with self.open() as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        self.content_hash = h.hexdigest()
        return self.content_hash


@dataclass
class ScanResult:
    files: list[SourceFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    #: the folder scanned and how: a build reuses a scan (the Ray build's) only if it reads alike
    root: Path | None = None
    reading: ReadOptions = field(default_factory=ReadOptions)
    allow_hardlinks: bool = False

    def made_as(self, root: Path, reading: ReadOptions, allow_hardlinks: bool) -> bool:
        """Whether this is the scan ``scan_corpus(root, ...)`` with these options makes."""
        return (self.root, self.reading, self.allow_hardlinks) == (root.resolve(), reading,
                                                                   allow_hardlinks)


def scan_corpus(root: str | Path, *, allow_hardlinks: bool = False,
                reading: ReadOptions | None = None) -> ScanResult:
    """List indexable files under ``root`` (sorted); hidden entries are ignored, and so is
    what ``reading.exclude`` names (each reported once: an excluded folder is one line).

    A file with more than one name (a hard link) is skipped unless ``allow_hardlinks``: its
    other name may lie outside the corpus, where the user never pointed.

    The walk is iterative (any depth, bounded by :data:`MAX_DEPTH`) and never follows a
    symlink: each one is skipped with the reason (outside the corpus, a loop, or inside it,
    where its target is indexed at its own path). Only regular files are listed: FIFOs,
    sockets and devices are skipped, as are unsupported types and unreadable files.
    """
    reading = reading or ReadOptions()
    root = Path(root).resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"corpus folder not found: {root}")
    result = ScanResult(root=root, reading=reading, allow_hardlinks=allow_hardlinks)
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            result.skipped.append((_rel(here, root) + "/", f"unreadable folder: "
                                   f"{exc.strerror or exc}"))
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = here / entry.name
            rel = _rel(path, root)
            if not is_utf8(rel):
                result.skipped.append((printable_name(rel), "the name is not valid UTF-8: rename "
                                       "it to index it"))
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                pattern = reading.excluded_by(rel, folder=is_dir) if reading.exclude else None
                if pattern is not None:
                    result.skipped.append((rel + "/" * is_dir, f"excluded by --exclude "
                                                               f"{pattern}"))
                elif entry.is_symlink():
                    result.skipped.append((rel, _symlink_reason(path, root)))
                elif is_dir:
                    subdirs.append(path)
                elif not entry.is_file(follow_symlinks=False):
                    mode = entry.stat(follow_symlinks=False).st_mode
                    result.skipped.append((rel, f"not a regular file ({kind_of(mode)})"))
                else:
                    _add_file(result, root, path, rel, entry, allow_hardlinks, reading)
            except OSError as exc:
                result.skipped.append((rel, f"unreadable: {exc.strerror or exc}"))
        if subdirs and depth >= MAX_DEPTH:
            result.skipped.append((_rel(here, root) + "/", f"folders nested deeper than "
                                   f"{MAX_DEPTH} levels are not scanned"))
            continue
        stack.extend((d, depth + 1) for d in reversed(subdirs))
    result.files.sort(key=lambda f: f.rel)
    return result


def is_utf8(text: str) -> bool:
    """False for a name holding undecodable bytes (``os`` gives them as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_name(text: str) -> str:
    """A name with its undecodable bytes shown as ``\\xff`` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _add_file(result: ScanResult, root: Path, path: Path, rel: str, entry: os.DirEntry[str],
              allow_hardlinks: bool, reading: ReadOptions) -> None:
    suffix = path.suffix.lower()
    kind = TEXT_SUFFIXES.get(suffix) or reading.kind_of(suffix) or (
        "image" if suffix in CORPUS_IMAGE_SUFFIXES else sniff_text(path, root=root, rel=rel))
    if kind is None:
        hint = f" (to read it as text: --include-ext {suffix})" if suffix and reads_as_text(
            path, root=root, rel=rel) else ""
        result.skipped.append((rel, f"unsupported file type {suffix or '(none)'}{hint}"))
        return
    stat = entry.stat(follow_symlinks=False)
    if stat.st_nlink > 1 and not allow_hardlinks:
        result.skipped.append((rel, f"a hard link ({stat.st_nlink} names for one file; another "
                                    "may lie outside the corpus): pass --allow-hardlinks to "
                                    "index it"))
        return
    if not os.access(path, os.R_OK):
        result.skipped.append((rel, "unreadable: permission denied"))
        return
    result.files.append(SourceFile(rel, path, kind, stat.st_size, stat.st_mtime, root=root,
                                   identity=(stat.st_dev, stat.st_ino)))


def sniff_text(path: Path, *, root: Path | None = None, rel: str | None = None) -> str | None:
    """``"text"`` for a file whose name does not say its type (``README``, ``NEWS.Debian``,
    ``copyright``) when its start reads as UTF-8 text; ``None`` otherwise. Files of a known
    other type (``.py``, ``.csv``, ``.bin``, ...) are left alone."""
    if any(mimetypes.guess_type(path.name)):  # a known type, or compressed
        return None
    return "text" if reads_as_text(path, root=root, rel=rel) else None


def reads_as_text(path: Path, *, root: Path | None = None, rel: str | None = None) -> bool:
    """Whether the file's first :data:`SNIFF_BYTES` are UTF-8 text (95% printable)."""
    try:
        with (open_beneath(root, rel) if root is not None and rel is not None
              else open_regular(path)) as f:
            head = f.read(SNIFF_BYTES)
    except (OSError, ValueError):  # PathRefused is a ValueError
        return False
    if not head or b"\0" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
            return False
        text = head[:exc.start].decode("utf-8")
    printable = sum(c.isprintable() or c in "\n\r\t\f" for c in text)
    return printable >= 0.95 * len(text)


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path != root else "."


def _symlink_reason(path: Path, root: Path) -> str:
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "broken symlink or symlink loop (not followed)"
    if target != root and root not in target.parents:
        return "symlink pointing outside the corpus root (not followed)"
    return f"symlink to {target.relative_to(root).as_posix()} (not followed; the target is " \
           "indexed at its own path)"
