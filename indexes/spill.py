"""Append-only spill files that keep a build's new vectors and BM25 documents on disk.

A large build adds tens of thousands of chunks before it writes the index once. Kept in the
in-memory structures, they make the build's memory grow with the corpus (postings, a flat
FAISS index later rebuilt as HNSW: three copies of every vector at the switch). With
``defer_adds(folder)``, :class:`~nyx.indexes.FaissIndex` and
:class:`~nyx.indexes.LexicalIndex` append new entries to these files instead and build their
structures once, from the file, when something first needs them (a search, a delete, or
``save``). Spill files are scratch: a killed build leaves them behind and the next build
removes them (the embedding cache, not the spill, is what a build resumes from).
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DocumentSpill", "VectorSpill"]


class VectorSpill:
    """float32 vectors of one dimension and their int64 labels, appended to a file."""

    def __init__(self, path: str | os.PathLike[str], dim: int) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.labels = array("q")
        self._file = self.path.open("w+b")

    def __len__(self) -> int:
        return len(self.labels)

    def append(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        self.labels.extend(labels.tolist())

    def drain(self, rows: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(vectors, labels) blocks of at most ``rows``, in append order; empties the spill."""
        self._file.flush()
        self._file.seek(0)
        labels = np.frombuffer(self.labels, dtype=np.int64) if self.labels else np.empty(0, int)
        for start in range(0, len(labels), rows):
            block = labels[start:start + rows]
            data = self._file.read(block.size * self.dim * 4)
            yield np.frombuffer(data, dtype=np.float32).reshape(block.size, self.dim), block.copy()
        self._file.seek(0)
        self._file.truncate()
        self.labels = array("q")

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class DocumentSpill:
    """BM25 documents as JSON lines ``[id, {term: count}]``, and the set of their ids.

    A save reads the lines once, in order, into the postings files
    (:func:`nyx.indexes.postings.write_postings`) without building the in-memory index.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ids: set[str] = set()
        self._file = self.path.open("w+", encoding="utf-8")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.ids

    def append(self, doc_id: str, counts: dict[str, int]) -> None:
        self._file.write(json.dumps([doc_id, counts], ensure_ascii=False) + "\n")
        self.ids.add(doc_id)

    def lines(self) -> Iterator[str]:
        """Each spilled document's JSON (no newline), in append order; the spill is kept."""
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield line.rstrip("\n")
        self._file.seek(0, os.SEEK_END)

    def drain(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, counts) in append order; empties the spill."""
        for line in self.lines():
            doc_id, counts = json.loads(line)
            yield doc_id, counts
        self._file.seek(0)
        self._file.truncate()
        self.ids = set()

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
