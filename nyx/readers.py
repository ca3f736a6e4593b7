"""Reading one source file of a corpus into items: text, Markdown, JSON(L) records, HTML, PDF
and images; each problem becomes a note, not an abort (see :mod:`nyx.corpus` for the scan)."""

from __future__ import annotations

import codecs
import io
import itertools
import json
import logging
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from nyx.chunking import DEFAULT_MAX_WORDS, chunk_markdown, chunk_text
from nyx.content import ImagePart, Item
from nyx.corpus import SourceError, SourceFile
from nyx.file_text import embedded_image_text, name_words
from nyx.images import ALLOWED_FORMATS, MAX_PIXELS, MAX_SIDE, ImageLoadError, open_image
from nyx.paths import PathRefused, open_beneath, resolve_inside
from nyx.records import RecordError, check_metadata, check_unicode

logger = logging.getLogger(__name__)

#: Text files larger than this are read and embedded block by block.
STREAM_BYTES = 4 * 2**20
#: one jsonl record (one line) may hold at most this much; larger ones are skipped with a note
#: before they are decoded (a document store, like MongoDB's 16 MB, bounds a document)
MAX_RECORD_BYTES = 16 * 2**20
#: image files larger than this are refused (they are read into memory once, then decoded)
MAX_IMAGE_FILE_BYTES = 64 * 2**20
#: Metadata keys the builder sets; a record cannot claim them.
BUILDER_KEYS = ("source", "kind")


@dataclass
class Parsed:
    """A file's items (a lazy iterator for large text files) and notes about it. Notes of a
    streamed file are complete once its items have been consumed."""

    items: Iterable[Item]
    notes: list[str] = field(default_factory=list)


def parse_source(src: SourceFile, root: Path, max_words: int = DEFAULT_MAX_WORDS) -> Parsed:
    """Turn one file into items with stable ids; raise :class:`SourceError` with a reason."""
    if src.size == 0:
        raise SourceError("empty file")
    base = {"source": src.rel, "kind": src.kind}
    if src.kind == "image":
        return _parse_image(src, base)
    if src.kind in ("text", "markdown", "html") and src.size > STREAM_BYTES:
        return _stream_text(src, root, base, max_words)
    if src.kind == "jsonl":  # line by line: a large file is never in memory at once
        notes: list[str] = []
        return _parse_records(src, _jsonl_records(src, notes), root, base, notes)
    if src.kind == "pdf":
        text, notes = _read_pdf(src), []
    else:
        text, notes = _read_text(src)
    if src.kind == "json":
        return _parse_records(src, _json_records(text), root, base, notes)
    if src.kind == "html":
        text = _html_text(text)
    if src.kind == "markdown":
        items = list(_markdown_items(src, root, base, text, max_words, notes))
    else:
        items = [Item([c], {**base, "chunk": i}, f"{src.rel}#{i}")
                 for i, c in enumerate(chunk_text(text, max_words))]
    if not items:
        raise SourceError("no text found")
    return Parsed(items, notes)


def _markdown_items(src: SourceFile, root: Path, base: dict[str, Any], text: str,
                    max_words: int, notes: list[str], start: int = 0) -> Iterator[Item]:
    """Markdown chunks as items (images in place, by their bytes), numbered from ``start``."""
    for i, chunk in enumerate(chunk_markdown(text, max_words), start):
        parts: list[Any] = []
        for kind, value, alt in chunk.parts:
            if kind == "text":
                parts.append(value)
                continue
            try:
                image = _corpus_image(root, value, src.path.parent, alt)
                # an image without alt text: what its file says about itself (a record's
                # images come with the record's own text instead)
                parts.append(image if alt else ImagePart(
                    image.source, alt=own_text(str(value), bytes(image.source)),
                    origin=image.origin))
            except SourceError as exc:
                notes.append(f"image {exc}; kept its alt text")
                if alt:
                    parts.append(alt)
        if parts and any(isinstance(p, ImagePart) or p.strip() for p in parts):
            yield Item(parts, {**base, "chunk": i}, f"{src.rel}#{i}")


def _stream_text(src: SourceFile, root: Path, base: dict[str, Any], max_words: int) -> Parsed:
    """A large text, markdown or HTML file read in blocks of :data:`STREAM_BYTES`, cut at
    paragraph breaks and chunked block by block: memory stays flat however large the file is
    (HTML is parsed incrementally; a markdown image reference is never cut in two)."""
    notes: list[str] = []
    blocks = _decoded_blocks(src, notes)
    if src.kind == "html":
        blocks = _html_blocks(blocks)
    pieces = _cut_pieces(blocks, markdown=src.kind == "markdown")
    items = _streamed_items(src, root, base, pieces, max_words, notes)
    first = next(items, None)
    if first is None:
        raise SourceError("no text found")
    return Parsed(itertools.chain([first], items), notes)


def _streamed_items(src: SourceFile, root: Path, base: dict[str, Any], pieces: Iterator[str],
                    max_words: int, notes: list[str]) -> Iterator[Item]:
    n = 0
    for piece in pieces:
        if src.kind == "markdown":
            for item in _markdown_items(src, root, base, piece, max_words, notes, start=n):
                n = int(item.metadata["chunk"]) + 1
                yield item
            continue
        for chunk in chunk_text(piece, max_words):
            yield Item([chunk], {**base, "chunk": n}, f"{src.rel}#{n}")
            n += 1


def _decoded_blocks(src: SourceFile, notes: list[str]) -> Iterator[str]:
    """The file decoded as UTF-8 block by block (the last block is ``""`` after a final
    flush); undecodable bytes become U+FFFD and are counted in ``notes``."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    bad = 0
    with src.open() as f:
        while True:
            block = f.read(STREAM_BYTES)
            text = decoder.decode(block, final=not block)
            bad += text.count("\ufffd")
            yield text
            if not block:
                break
    if bad:
        notes.append(f"not valid UTF-8; decoded with {bad} replacement character(s)")


def _html_blocks(blocks: Iterator[str]) -> Iterator[str]:
    """The visible text of HTML fed block by block (the parser keeps a cut tag for later)."""
    parser = _TextExtractor()
    for block in blocks:
        if block:
            parser.feed(block)
        else:
            parser.close()
        yield "".join(parser.chunks)
        parser.chunks.clear()


def _cut_pieces(blocks: Iterator[str], markdown: bool = False) -> Iterator[str]:
    """Regroup text blocks into pieces that end at a paragraph break (else at a space), so no
    chunk straddles two reads; in markdown, never inside ``![alt](path)``."""
    rest = ""
    pending = list(itertools.islice(blocks, 1))
    while pending:
        block = pending.pop()
        pending = list(itertools.islice(blocks, 1))
        text = rest + block
        final = not pending
        cut = len(text) if final else text.rfind("\n\n")
        if not final and cut <= 0:
            cut = max(text.rfind(" "), 0) or len(text)
        if markdown and not final:
            opened = text.rfind("![", 0, cut)
            if opened > 0 and text.find(")", opened, cut) < 0:
                cut = opened  # an image reference cut in two: keep it whole for the next piece
        rest = text[cut:]
        yield text[:cut]


def _parse_image(src: SourceFile, base: dict[str, Any]) -> Parsed:
    with src.open() as f:
        data = _read_image_bytes(f)
    width, height = _check_image(data)
    notes = []
    if max(width, height) > MAX_SIDE:
        notes.append(f"large image {width}x{height} downscaled to {MAX_SIDE} px for encoding")
    image = ImagePart(data, alt=own_text(src.rel, data), origin=str(src.path))
    if not src.content_hash:  # the file is read whole: its hash is its image's, computed once
        src.content_hash = image.digest()
    return Parsed([Item([image], dict(base), src.rel)], notes)


def own_text(rel: str, data: bytes) -> str:
    """What an image file says about itself: the words of its name, then any description it
    embeds (see :mod:`nyx.file_text`); its alt text in the index."""
    return ". ".join(t for t in (name_words(rel), embedded_image_text(data)) if t)


def _corpus_image(root: Path, ref: Any, folder: Path, alt: str = "") -> ImagePart:
    """An image a document refers to: a readable image file inside the corpus, read once,
    beneath the root and without following a symlink swapped in after the path was resolved;
    or an error. The part holds those bytes (what the index embeds and stores) and names the
    file as its ``origin``."""
    if not isinstance(ref, str):
        raise SourceError(f"{ref!r} is not a path (expected a string)")
    try:
        path = resolve_inside(root, ref, base=folder)
        with open_beneath(root.resolve(), path.relative_to(root.resolve())) as f:
            data = _read_image_bytes(f)
    except PathRefused as exc:
        raise SourceError(str(exc)) from None
    except OSError as exc:
        raise SourceError(f"{ref}: unreadable ({exc.strerror or exc})") from None
    try:
        _check_image(data)
    except SourceError as exc:
        raise SourceError(f"{ref}: {exc}") from None
    return ImagePart(data, alt=alt, origin=str(path))


def _read_image_bytes(handle: Any) -> bytes:
    data = handle.read(MAX_IMAGE_FILE_BYTES + 1)
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise SourceError(f"image file larger than {MAX_IMAGE_FILE_BYTES // 2**20} MB; "
                          "downscale or recompress it to index it")
    return bytes(data)


def _check_image(data: bytes) -> tuple[int, int]:
    """Size-check, verify and decode an image's bytes; returns its size."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # the pixel limit below is our own, clearer check
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with open_image(io.BytesIO(data)) as im:
                width, height = im.size
                if width * height > MAX_PIXELS:
                    raise SourceError(f"image too large: {width}x{height} pixels (limit "
                                      f"{MAX_PIXELS:,}); downscale it to index it")
                im.verify()
    except SourceError:
        raise
    except UnidentifiedImageError:
        raise SourceError("corrupt or unreadable image: not one of the image formats read "
                          f"({', '.join(ALLOWED_FORMATS)})") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise SourceError(f"corrupt or unreadable image: {exc}") from exc
    try:
        ImagePart(data).load()
    except ImageLoadError as exc:
        raise SourceError(f"corrupt or unreadable image: {exc}") from exc
    return width, height


def _read_text(src: SourceFile) -> tuple[str, list[str]]:
    with src.open() as f:
        data = f.read()
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        return text, [f"not valid UTF-8 (first bad byte at offset {exc.start}); decoded with "
                      f"{bad} replacement character(s)"]


def _parse_records(src: SourceFile, records: Iterator[tuple[int, Any]], root: Path,
                   base: dict[str, Any], notes: list[str]) -> Parsed:
    items = _record_items(src, records, root, base, notes)
    first = next(items, None)
    if first is None:
        raise SourceError(f"no usable records ({notes[0]})" if notes else "no usable records")
    return Parsed(itertools.chain([first], items), notes)


def _record_items(src: SourceFile, records: Iterator[tuple[int, Any]], root: Path,
                  base: dict[str, Any], notes: list[str]) -> Iterator[Item]:
    seen: set[str] = set()
    for line_no, record in records:
        if isinstance(record, _BadLine):
            notes.append(f"line {line_no}: {record.reason}; skipped")
            continue
        try:
            item = _record_item(src, root, base, line_no, record, notes)
        except RecordError as exc:
            notes.append(f"line {line_no}: {exc}; skipped")
            continue
        if item is None:
            continue
        if item.id in seen:
            notes.append(f"line {line_no}: id {item.id!r} repeats an earlier record of this "
                         "file; skipped (ids must be unique)")
            continue
        seen.add(str(item.id))
        yield item


def _record_item(src: SourceFile, root: Path, base: dict[str, Any], line_no: int, record: Any,
                 notes: list[str]) -> Item | None:
    """One jsonl/json record as an item; raises :class:`RecordError` for a malformed one."""
    if not isinstance(record, dict):
        raise RecordError(f"expected an object, got {type(record).__name__}")
    check_unicode(record, "the record")
    rid = record.get("id")
    if rid is None or rid == "":
        rid = f"{src.rel}:{line_no}"
    elif isinstance(rid, bool) or not isinstance(rid, (str, int)):
        raise RecordError(f"id must be a string, got {type(rid).__name__}")
    rid = str(rid)
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        raise RecordError(f"record {rid!r}: text must be a string, got {type(text).__name__}")
    refs = record.get("images")
    if refs is None:
        refs = []
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise RecordError(f"record {rid!r}: images must be a list of paths (strings)")
    meta = record.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise RecordError(f"record {rid!r}: metadata must be an object, got "
                          f"{type(meta).__name__}")
    check_metadata(meta, f"record {rid!r}: metadata")
    claimed = sorted(k for k in BUILDER_KEYS if k in meta and meta[k] != base.get(k))
    if claimed:
        notes.append(f"record {rid}: metadata {', '.join(claimed)} ignored (set by the "
                     "builder from the file the record is in)")
    parts: list[Any] = [text] if text and text.strip() else []
    for ref in refs:
        try:
            parts.append(_corpus_image(root, ref, src.path.parent))
        except SourceError as exc:
            notes.append(f"record {rid}: image {exc}; skipped that image")
    if not parts:
        notes.append(f"record {rid} (line {line_no}) has no text and no readable image; "
                     "skipped")
        return None
    return Item(parts, {**meta, **base}, rid)


def _json_records(text: str) -> Iterator[tuple[int, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    except RecursionError:
        raise SourceError("JSON nested too deeply to read") from None
    yield from enumerate(data if isinstance(data, list) else [data], 1)


def _jsonl_records(src: SourceFile, notes: list[str]) -> Iterator[tuple[int, Any]]:
    """Each line of a JSON Lines file, read and parsed one at a time (lines end at ``\\n``
    only, so a record holding U+2028 stays one record)."""
    bad = 0
    with src.open() as f:
        for line_no in itertools.count(1):
            raw = f.readline(MAX_RECORD_BYTES + 1)
            if not raw:
                break
            if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
                size = len(raw) + _skip_line(f)
                yield line_no, _BadLine(
                    f"a record of {_size(size)}, more than the {_size(MAX_RECORD_BYTES)} one "
                    "record may hold; split its text over "
                    "several records (or put it in a .txt or .md file, which are streamed)")
                continue
            line = raw.decode("utf-8", errors="replace")
            if line_no == 1:
                line = line.removeprefix("\ufeff")
            bad += line.count("\ufffd")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield line_no, _BadLine(f"invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            except RecursionError:
                yield line_no, _BadLine("JSON nested too deeply to read")
                continue
            del raw, line
            yield line_no, record
    if bad:
        notes.append(f"not valid UTF-8; decoded with {bad} replacement character(s)")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.1f} KB"


def _skip_line(f: Any) -> int:
    """Read past the rest of the current line in blocks; returns the bytes skipped."""
    skipped = 0
    while True:
        block = f.readline(1 << 20)
        skipped += len(block)
        if not block or block.endswith(b"\n"):
            return skipped


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


def _read_pdf(src: SourceFile) -> str:
    try:
        from pypdf import PdfReader
    except ImportError as exc:
        raise SourceError("PDF support needs pypdf: pip install 'nyx-retrieval[pdf]'") from exc
    try:
        with src.open() as f:
            return "\n\n".join(page.extract_text() or "" for page in PdfReader(f).pages)
    except Exception as exc:  # pypdf raises many error types for broken files
        raise SourceError(f"unreadable PDF: {exc}") from exc
