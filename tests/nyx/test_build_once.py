"""A build prepares each document once: every image file is read and hashed once per document
that shows it, and every item is cut into its embedding pieces once (counted around the real
functions while the demo corpus is built). The Ray build's single scan: test_ray_build.py."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import nyx.chunking
import nyx.retriever
from nyx.builder import BuildOptions, build_index
from nyx.demo import demo_corpus
from nyx.images import is_image_path
from nyx.indexes import IndexDirectory
from nyx.retriever import Retriever

#: while a test records: the paths of files opened for reading; ``None`` otherwise
_OPENED: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _OPENED is None or event != "open":
        return
    path, _, flags = args
    if path is not None and not isinstance(path, int) and not flags & (os.O_WRONLY | os.O_RDWR):
        _OPENED.append(os.fsdecode(path))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one is idle unless recording


class _CountingSha256:
    """``hashlib.sha256`` that counts each digest it hands out."""

    def __init__(self, seen: Counter[str], real: Any, *args: Any, **kwargs: Any) -> None:
        self._seen, self._hash = seen, real(*args, **kwargs)

    def update(self, data: Any) -> None:
        self._hash.update(data)

    def hexdigest(self) -> str:
        digest = self._hash.hexdigest()
        self._seen[digest] += 1
        return digest

    def digest(self) -> bytes:
        self._seen[self._hash.hexdigest()] += 1
        return self._hash.digest()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hash, name)


@dataclass
class Recorder:
    """What the real code did while :meth:`recording`: files opened for reading (their paths),
    SHA-256 digests computed, and items cut into embedding pieces (by id)."""

    opened: list[str] = field(default_factory=list)
    hashed: Counter[str] = field(default_factory=Counter)
    chunked: Counter[str] = field(default_factory=Counter)

    @contextmanager
    def recording(self) -> Iterator[None]:
        global _OPENED
        real_sha256, real_pieces = hashlib.sha256, nyx.chunking.embedding_pieces

        def pieces(item: Any, max_words: int) -> Any:
            self.chunked[str(item.id)] += 1
            return real_pieces(item, max_words)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(hashlib, "sha256",
                          lambda *a, **kw: _CountingSha256(self.hashed, real_sha256, *a, **kw))
            patch.setattr(nyx.chunking, "embedding_pieces", pieces)
            patch.setattr(nyx.retriever, "embedding_pieces", pieces)
            _OPENED = self.opened
            try:
                yield
            finally:
                _OPENED = None

    def reads(self, name: str, *, outside: Path) -> int:
        """Times a file named ``name`` (any folder but ``outside``) was opened for reading."""
        return sum(1 for path in self.opened if Path(path).name == name
                   and not Path(path).is_relative_to(outside))


def _images(root: Path) -> dict[str, str]:
    """Each image file of the corpus: file name -> SHA-256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and is_image_path(p)}


def _documents_showing(out: Path, digests: dict[str, str]) -> Counter[str]:
    """How many indexed documents show each image (stored images are named by their hash)."""
    by_stored_name = {digest[:32]: name for name, digest in digests.items()}
    shown: Counter[str] = Counter()
    with Retriever.load(out) as retriever:
        for item in retriever.get(retriever.store.ids()):
            assert item is not None
            for image in item.images:
                assert image.path is not None
                shown[by_stored_name[image.path.stem]] += 1
    return shown


def test_a_build_reads_and_hashes_each_image_once_and_chunks_each_item_once(lite, tmp_path):
    corpus, out = tmp_path / "demo", tmp_path / "idx"
    shutil.copytree(demo_corpus(), corpus)
    digests = _images(corpus)
    assert len(digests) == 6
    record = Recorder()

    with record.recording():
        summary = build_index(corpus, out, BuildOptions(model=lite, show_progress=False,
                                                        max_words=20))  # some items chunked

    shown = _documents_showing(out, digests)
    generation = IndexDirectory(out).current()
    assert generation is not None
    assert set(shown) == set(digests) and shown["espresso.jpg"] == 2  # its file and a note
    for name, digest in digests.items():
        # read by its own file's reader and by each note or record that shows it, each time
        # hashed once (cache key, stored copy's name, OCR cache and store share that hash)
        assert record.reads(name, outside=out) == shown[name], name
        stored = next(p.name for p in (generation / "media").iterdir()
                      if p.name.startswith(digest[:32]))
        assert record.reads(stored, outside=out) == 0, f"{name}'s stored copy read again"
        # ... and the generation's checksum of its stored copy: once more
        assert record.hashed[digest] == shown[name] + 1, f"{name}: {record.hashed[digest]}"
    assert len(record.chunked) == summary.documents
    assert summary.vectors > summary.documents  # chunked items are counted once too
    assert set(record.chunked.values()) == {1}, record.chunked


def test_an_unchanged_corpus_is_read_once_and_nothing_is_chunked(lite, tmp_path):
    corpus, out = tmp_path / "demo", tmp_path / "idx"
    shutil.copytree(demo_corpus(), corpus)
    digests = _images(corpus)
    build_index(corpus, out, BuildOptions(model=lite, show_progress=False))
    record = Recorder()

    with record.recording():
        again = build_index(corpus, out, BuildOptions(model=lite, show_progress=False))

    assert not again.added and not again.updated and again.unchanged == 12
    for name, digest in digests.items():  # hashed to see it is unchanged, nothing more
        assert (record.reads(name, outside=out), record.hashed[digest]) == (1, 1), name
    assert not record.chunked
