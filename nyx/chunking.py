"""Splitting long text (and markdown with images) into chunks that fit an encoder's window."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from nyx.content import Item

#: all-MiniLM-L6-v2 truncates at 256 word pieces; ~200 tokens is about 150 English words.
DEFAULT_MAX_WORDS = 150
MAX_IMAGES_PER_CHUNK = 5

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])")
_MD_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass
class Chunk:
    """An ordered run of text pieces and image references (``("image", src, alt)``)."""

    parts: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, value, alt)
    words: int = 0

    @property
    def images(self) -> int:
        return sum(1 for kind, _, _ in self.parts if kind == "image")

    def text(self) -> str:
        return " ".join(v for kind, v, _ in self.parts if kind == "text")


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def chunk_text(text: str, max_words: int = DEFAULT_MAX_WORDS) -> list[str]:
    """Split on paragraph and sentence boundaries into chunks of at most ``max_words`` words.

    A single sentence longer than the limit is cut at word boundaries.
    """
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
    chunks: list[str] = []
    current: list[str] = []
    count = 0
    for paragraph in _paragraphs(text):
        for sentence in split_sentences(" ".join(paragraph.split())):
            words = sentence.split()
            while len(words) > max_words:  # an over-long sentence: hard cut
                if current:
                    chunks.append(" ".join(current))
                    current, count = [], 0
                chunks.append(" ".join(words[:max_words]))
                words = words[max_words:]
            if count + len(words) > max_words and current:
                chunks.append(" ".join(current))
                current, count = [], 0
            if words:
                current.append(" ".join(words))
                count += len(words)
    if current:
        chunks.append(" ".join(current))
    return chunks


def chunk_markdown(text: str, max_words: int = DEFAULT_MAX_WORDS,
                   max_images: int = MAX_IMAGES_PER_CHUNK) -> list[Chunk]:
    """Chunk markdown; ``![alt](path)`` images stay in place inside their chunk, in order."""
    chunks: list[Chunk] = []
    current = Chunk()

    def flush() -> None:
        nonlocal current
        if current.parts:
            chunks.append(current)
        current = Chunk()

    for kind, value, alt in _markdown_pieces(text):
        if kind == "image":
            if current.images >= max_images:
                flush()
            current.parts.append(("image", value, alt))
            continue
        for piece in chunk_text(value, max_words):
            n = len(piece.split())
            if current.words + n > max_words and current.words:
                flush()
            current.parts.append(("text", piece, ""))
            current.words += n
    flush()
    return chunks


def _markdown_pieces(text: str) -> list[tuple[str, str, str]]:
    pieces: list[tuple[str, str, str]] = []
    pos = 0
    for match in _MD_IMAGE.finditer(text):
        before = text[pos:match.start()]
        if before.strip():
            pieces.append(("text", _strip_markdown(before), ""))
        pieces.append(("image", match.group("src"), match.group("alt").strip()))
        pos = match.end()
    rest = text[pos:]
    if rest.strip():
        pieces.append(("text", _strip_markdown(rest), ""))
    return [p for p in pieces if p[0] == "image" or p[1].strip()]


def _strip_markdown(text: str) -> str:
    text = re.sub(r"^\s{0,3}#{1,6}\s*", "", text, flags=re.MULTILINE)  # headings
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"(\*\*|__|`)", "", text)
    # A heading line becomes its own sentence.
    return re.sub(r"(?m)^(.+[^.!?:\s])\s*$(?=\n\n)", r"\1.", text)


def _paragraphs(text: str) -> Iterator[str]:
    """``re.split(r"\\n\\s*\\n", text)`` one paragraph at a time (no list of them all)."""
    start = 0
    for brk in _PARAGRAPH_BREAK.finditer(text):
        yield text[start:brk.start()]
        start = brk.end()
    yield text[start:]


def _more_words_than(text: str, limit: int) -> bool:
    """``len(text.split()) > limit``, counting no further than needed."""
    return next(itertools.islice(_WORD.finditer(text), limit, None), None) is not None


def embedding_pieces(item: Item, max_words: int) -> list[Item]:
    """What is embedded for ``item``: text-only documents longer than the encoder's window
    are embedded in chunks of ``max_words``, anything else as one piece."""
    if item.modality != "text" or not _more_words_than(item.text, max_words):
        return [item]
    return [Item([c]) for c in chunk_text(item.text, max_words)]
