"""Reading a folder of mixed documents into items, reporting everything that was not indexed."""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from nyx.chunking import DEFAULT_MAX_WORDS, chunk_markdown, chunk_text, resolve_image
from nyx.content import ImagePart, Item
from nyx.images import MAX_PIXELS, MAX_SIDE, ImageLoadError

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown",
                 ".jsonl": "jsonl", ".json": "json", ".html": "html", ".htm": "html",
                 ".pdf": "pdf"}
CORPUS_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}
#: how much of a file without a known type is read to tell whether it is text
SNIFF_BYTES = 65536


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

    def compute_hash(self) -> str:
        h = hashlib.sha256()
        with self.path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        self.content_hash = h.hexdigest()
        return self.content_hash


@dataclass
class ScanResult:
    files: list[SourceFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)


def scan_corpus(root: str | Path) -> ScanResult:
    """List indexable files under ``root`` (sorted); hidden entries are ignored.

    Symlinks are never followed out of the corpus: one that points outside ``root`` is skipped
    with that reason, as are unsupported types and unreadable files.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"corpus folder not found: {root}")
    result = ScanResult()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        for d in list(dirnames):
            if (here / d).is_symlink():
                dirnames.remove(d)
                result.skipped.append((_rel(here / d, root), _symlink_reason(here / d, root)))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = here / name
            rel = _rel(path, root)
            if path.is_symlink():
                result.skipped.append((rel, _symlink_reason(path, root)))
                continue
            suffix = path.suffix.lower()
            kind = TEXT_SUFFIXES.get(suffix) or ("image" if suffix in CORPUS_IMAGE_SUFFIXES
                                                  else sniff_text(path))
            if kind is None:
                result.skipped.append((rel, f"unsupported file type {suffix or '(none)'}"))
                continue
            try:
                stat = path.stat()
            except OSError as exc:
                result.skipped.append((rel, f"unreadable: {exc.strerror}"))
                continue
            if not os.access(path, os.R_OK):
                result.skipped.append((rel, "unreadable: permission denied"))
                continue
            result.files.append(SourceFile(rel, path, kind, stat.st_size, stat.st_mtime))
    return result


def sniff_text(path: Path) -> str | None:
    """``"text"`` for a file whose name does not say its type (``README``, ``NEWS.Debian``,
    ``copyright``) when its start reads as UTF-8 text; ``None`` otherwise. Files of a known
    other type (``.py``, ``.csv``, ``.bin``, ...) are left alone."""
    if any(mimetypes.guess_type(path.name)):  # a known type, or compressed
        return None
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return None
    if not head or b"\0" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
            return None
        text = head[:exc.start].decode("utf-8")
    printable = sum(c.isprintable() or c in "\n\r\t\f" for c in text)
    return "text" if printable >= 0.95 * len(text) else None


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _symlink_reason(path: Path, root: Path) -> str:
    target = Path(os.path.realpath(path))
    if target != root and root not in target.parents:
        return f"symlink to {target} points outside the corpus root (not followed)"
    return f"symlink to {target.relative_to(root).as_posix()} (indexed at its real path)"


@dataclass
class Parsed:
    items: list[Item]
    notes: list[str] = field(default_factory=list)


def parse_source(src: SourceFile, root: Path, max_words: int = DEFAULT_MAX_WORDS) -> Parsed:
    """Turn one file into items with stable ids; raise :class:`SourceError` with a reason."""
    if src.size == 0:
        raise SourceError("empty file")
    base = {"source": src.rel, "kind": src.kind}
    if src.kind == "image":
        return _parse_image(src, base)
    if src.kind == "pdf":
        text, notes = _read_pdf(src.path), []
    else:
        text, notes = _read_text(src.path)
    if src.kind in ("jsonl", "json"):
        return _parse_records(src, text, root, base, notes)
    if src.kind == "html":
        text = _html_text(text)
    if src.kind == "markdown":
        chunks = chunk_markdown(text, max_words)
        items = []
        for i, chunk in enumerate(chunks):
            parts: list[Any] = []
            for kind, value, alt in chunk.parts:
                if kind == "text":
                    parts.append(value)
                    continue
                image = Path(resolve_image(value, src.path))
                if not image.is_file() or (root not in image.parents):
                    notes.append(f"image {value} not found inside the corpus; kept its alt text")
                    if alt:
                        parts.append(alt)
                    continue
                parts.append(ImagePart(str(image), alt=alt))
            if parts and any(isinstance(p, ImagePart) or p.strip() for p in parts):
                items.append(Item(parts, {**base, "chunk": i}, f"{src.rel}#{i}"))
    else:
        items = [Item([c], {**base, "chunk": i}, f"{src.rel}#{i}")
                 for i, c in enumerate(chunk_text(text, max_words))]
    if not items:
        raise SourceError("no text found")
    return Parsed(items, notes)


def _parse_image(src: SourceFile, base: dict[str, Any]) -> Parsed:
    from PIL import Image

    notes = []
    try:
        with warnings.catch_warnings():  # the pixel limit below is our own, clearer check
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(src.path)
        with im:
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise SourceError(f"image too large: {width}x{height} pixels (limit "
                                  f"{MAX_PIXELS:,}); downscale it to index it")
            im.verify()
    except SourceError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise SourceError(f"corrupt or unreadable image: {exc}") from exc
    if max(width, height) > MAX_SIDE:
        notes.append(f"large image {width}x{height} downscaled to {MAX_SIDE} px for encoding")
    try:
        ImagePart(str(src.path)).load()
    except ImageLoadError as exc:
        raise SourceError(f"corrupt or unreadable image: {exc}") from exc
    return Parsed([Item([ImagePart(str(src.path))], dict(base), src.rel)], notes)


def _read_text(path: Path) -> tuple[str, list[str]]:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        return text, [f"not valid UTF-8 (first bad byte at offset {exc.start}); decoded with "
                      f"{bad} replacement character(s)"]


def _parse_records(src: SourceFile, text: str, root: Path, base: dict[str, Any],
                   notes: list[str]) -> Parsed:
    items: list[Item] = []
    for line_no, record in _records(src, text):
        if isinstance(record, _BadLine):
            notes.append(f"line {line_no}: {record.reason}; skipped")
            continue
        if not isinstance(record, dict):
            notes.append(f"line {line_no}: expected an object, got {type(record).__name__}; "
                         "skipped")
            continue
        rid = str(record.get("id") or f"{src.rel}:{line_no}")
        parts: list[Any] = [record["text"]] if str(record.get("text") or "").strip() else []
        for ref in record.get("images") or []:
            image = Path(ref) if Path(ref).is_absolute() else (src.path.parent / ref)
            if image.is_file():
                parts.append(ImagePart(str(image.resolve())))
            else:
                notes.append(f"record {rid}: image {ref} not found; skipped that image")
        if not parts:
            notes.append(f"record {rid} (line {line_no}) has no text and no readable image; "
                         "skipped")
            continue
        meta = record.get("metadata") or {}
        if not isinstance(meta, dict):
            notes.append(f"record {rid}: metadata is not an object; ignored")
            meta = {}
        items.append(Item(parts, {**base, **meta}, rid))
    if not items:
        raise SourceError("no usable records")
    return Parsed(items, notes)


def _records(src: SourceFile, text: str) -> Iterator[tuple[int, Any]]:
    if src.kind == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        yield from enumerate(data if isinstance(data, list) else [data], 1)
        return
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield line_no, json.loads(line)
        except json.JSONDecodeError as exc:
            yield line_no, _BadLine(f"invalid JSON ({exc.msg} at column {exc.colno})")


@dataclass
class _BadLine:
    reason: str


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr"):
            self.chunks.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def _html_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    return "".join(parser.chunks)


def _read_pdf(path: Path) -> str:
    try:
        from pypdf import PdfReader
    except ImportError as exc:
        raise SourceError("PDF support needs pypdf: pip install 'nyx-retrieval[pdf]'") from exc
    try:
        return "\n\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    except Exception as exc:  # pypdf raises many error types for broken files
        raise SourceError(f"unreadable PDF: {exc}") from exc
