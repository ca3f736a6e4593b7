"""BM25 postings on disk: compressed sparse rows that open by memory-mapping.

A saved lexical index (format 2) is ``lexical.json``, which holds the BM25 settings and counts
and names the files of one save, ``lexical.<tag>.<part>``:

==============  ====================================================================
``terms.json``  the vocabulary, sorted: a JSON list, term ``r`` is row ``r``
``ids.json``    the document ids in slot (insertion) order: a JSON list
``offsets.npy`` int64, terms + 1: row ``r``'s postings are ``offsets[r]:offsets[r + 1]``
``slots.npy``   int32, one per posting: the document's slot, ascending within a row
``tfs.npy``     int32, one per posting: the term's count in the document (at least 1)
``lengths.npy`` int64, one per document: its length in tokens
==============  ====================================================================

Opening (:meth:`Postings.open`) reads the two JSON lists and checks the offsets: work in the
size of the vocabulary and the number of documents, never in the number of postings. The
other arrays are memory-mapped (``np.load(mmap_mode="r", allow_pickle=False)``: nothing is
ever unpickled), so a query reads only the postings of its terms, and checks those (slots in
range, counts positive) as it reads them. A truncated file or one whose header, shape or
type differs is refused with a clear error; a generation's ``checksums.json`` (``nyx-index
verify``) covers every byte.

Each save writes its files under a fresh tag and then replaces ``lexical.json``, the one
file that names them, atomically: a reader sees either the old save or the new one. Files of
earlier saves are removed after (an index already open keeps reading its own, on POSIX).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from .atomic import atomic_write_stream, atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["Postings", "remove_stale_files", "write_postings"]

#: the parts of one save, and the type of each array
_ARRAYS = {"offsets": np.dtype(np.int64), "slots": np.dtype(np.int32),
           "tfs": np.dtype(np.int32), "lengths": np.dtype(np.int64)}
_LISTS = ("terms", "ids")
_FILE_RE = re.compile(r"^lexical\.[0-9a-f]{8,32}\.(terms|ids)\.json$|"
                      r"^lexical\.[0-9a-f]{8,32}\.(offsets|slots|tfs|lengths)\.npy$")
#: postings re-ordered per block while writing (three int32 each in the scratch file)
_BLOCK = 1 << 18


class Postings:
    """The read-only postings of a saved lexical index (see the module docstring)."""

    def __init__(self, terms: list[str], ids: list[str], offsets: np.ndarray,
                 slots: np.ndarray, tfs: np.ndarray, lengths: np.ndarray,
                 total_length: int, source: str = "") -> None:
        self.terms = terms
        self.row_of = {term: row for row, term in enumerate(terms)}
        self.ids = ids
        self.offsets = offsets
        self.slots = slots
        self.tfs = tfs
        self.lengths = lengths
        self.total_length = total_length
        self._source = source
        self._by_document: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    # Reading ---------------------------------------------------------------------------

    def get(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(slots, tfs)`` of `term` (views of the mapped files), or None if no document has
        it. Raises ValueError when the stored postings are impossible (a damaged file)."""
        row = self.row_of.get(term)
        if row is None:
            return None
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        slots, tfs = self.slots[start:end], self.tfs[start:end]
        if int(slots[0]) < 0 or int(slots[-1]) >= len(self.ids) or int(tfs.min()) < 1 or (
                slots.size > 1 and not bool(np.all(slots[1:] > slots[:-1]))):
            raise ValueError(f"{self._source}: the postings of {term!r} are damaged (slots "
                             "out of order or range, or counts below 1); rebuild the index")
        return slots, tfs

    def by_document(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The postings transposed, in memory: ``(doc_offsets, rows, tfs)``, document ``s``
        having the rows (ascending) ``rows[doc_offsets[s]:doc_offsets[s + 1]]``. Reads every
        posting once; kept for later calls."""
        if self._by_document is None:
            self.get_all_checked()
            rows = np.repeat(np.arange(len(self.terms), dtype=np.int32),
                             np.diff(self.offsets))
            order = np.argsort(self.slots, kind="stable")
            counts = np.bincount(self.slots, minlength=len(self.ids))
            doc_offsets = np.zeros(len(self.ids) + 1, dtype=np.int64)
            np.cumsum(counts, out=doc_offsets[1:])
            self._by_document = (doc_offsets, rows[order], np.asarray(self.tfs)[order])
        return self._by_document

    def get_all_checked(self) -> None:
        """Check every posting (as `get` checks one term's) and that each document's counts
        add up to its length; reads them all."""
        slots, tfs = np.asarray(self.slots), np.asarray(self.tfs)
        if slots.size and (int(slots.min()) < 0 or int(slots.max()) >= len(self.ids)
                           or int(tfs.min()) < 1):
            raise ValueError(f"{self._source}: postings name documents that do not exist or "
                             "counts below 1; the index is damaged - rebuild it")
        sums = np.bincount(slots, weights=tfs, minlength=len(self.ids))
        if not np.array_equal(sums, self.lengths):
            raise ValueError(f"{self._source}: the postings do not add up to the document "
                             "lengths; the index is damaged - rebuild it")

    def documents(self) -> Iterator[tuple[str, dict[str, int]]]:
        """Every document as ``(id, {term: count})`` in slot order (terms in vocabulary
        order)."""
        doc_offsets, rows, tfs = self.by_document()
        row_list, tf_list = rows.tolist(), tfs.tolist()
        bounds = doc_offsets.tolist()
        terms = self.terms
        for slot, doc_id in enumerate(self.ids):
            start, end = bounds[slot], bounds[slot + 1]
            yield doc_id, {terms[r]: tf for r, tf in zip(row_list[start:end],
                                                          tf_list[start:end])}

    # Files -----------------------------------------------------------------------------

    @classmethod
    def open(cls, folder: str | os.PathLike[str], head: Mapping[str, Any]) -> Postings:
        """Open the files that ``head`` (``lexical.json``, format 2) names in `folder`."""
        folder = Path(folder)
        source = str(folder / "lexical.json")

        def damaged(why: str) -> ValueError:
            return ValueError(f"{source}: {why}; the lexical index is damaged or incomplete - "
                              "rebuild it (nyx-index build)")

        files = head.get("files")
        counts = {key: head.get(key) for key in ("terms", "documents", "postings",
                                                 "total_length")}
        if not isinstance(files, dict) or set(files) != {*_LISTS, *_ARRAYS}:
            raise damaged("'files' does not name the six files of a save")
        for key, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise damaged(f"{key!r} is not a count")
        for part, name in files.items():
            match = _FILE_RE.match(name) if isinstance(name, str) else None
            if match is None or part not in name.rsplit(".", 2)[1:]:
                raise damaged(f"{part!r} names {name!r}, not a file of a save")
        lists: dict[str, list[str]] = {}
        for part in _LISTS:
            try:
                value = json.loads((folder / files[part]).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise damaged(f"{files[part]} cannot be read ({exc})") from None
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise damaged(f"{files[part]} is not a list of strings")
            lists[part] = value
        arrays: dict[str, np.ndarray] = {}
        shapes = {"offsets": counts["terms"] + 1, "slots": counts["postings"],
                  "tfs": counts["postings"], "lengths": counts["documents"]}
        for part, dtype in _ARRAYS.items():
            arrays[part] = _load_array(folder / files[part], dtype, shapes[part], damaged)
        terms, ids, offsets = lists["terms"], lists["ids"], arrays["offsets"]
        if len(terms) != counts["terms"] or len(ids) != counts["documents"]:
            raise damaged("the vocabulary or the document ids do not match the counts")
        if any(a >= b for a, b in zip(terms, terms[1:])):
            raise damaged("the vocabulary is not sorted and unique")
        if len(set(ids)) != len(ids):
            raise damaged("a document id appears twice")
        if int(offsets[0]) != 0 or int(offsets[-1]) != counts["postings"] or (
                terms and not bool(np.all(np.diff(offsets) > 0))):
            raise damaged("the postings offsets are not increasing from 0 to the postings count")
        lengths = arrays["lengths"]
        if lengths.size and (int(lengths.min()) < 0
                             or int(lengths.sum()) != counts["total_length"]):
            raise damaged("the document lengths do not add up to the total length")
        return cls(terms, ids, offsets, arrays["slots"], arrays["tfs"], lengths,
                   counts["total_length"], source)

    def write(self, folder: str | os.PathLike[str]) -> dict[str, Any]:
        """Write these postings as a new save in `folder` (see `write_postings`)."""
        return _write_files(Path(folder), self.terms, self.ids, self.offsets, self.slots,
                            self.tfs, self.lengths, self.total_length)


def _load_array(path: Path, dtype: np.dtype, size: int, damaged: Any) -> np.ndarray:
    try:
        # an empty array cannot be mapped; anything else is mapped, never read whole
        array_ = np.load(path, mmap_mode="r" if size else None, allow_pickle=False)
        array_ = np.asarray(array_)  # a plain view of the mapping: slicing a memmap is slow
    except (OSError, ValueError, EOFError) as exc:
        raise damaged(f"{path.name} cannot be read ({exc})") from None
    if array_.dtype != dtype or array_.shape != (size,):
        raise damaged(f"{path.name} holds {array_.dtype} {array_.shape}, expected {dtype} "
                      f"({size},)")
    return array_


def write_postings(folder: str | os.PathLike[str],
                   documents: Iterable[tuple[str, Mapping[str, int]]]) -> dict[str, Any]:
    """Write `documents` (``(id, {term: count})`` in slot order, ids unique) as the postings
    files of a new save in `folder`; returns what ``lexical.json`` records of them (counts and
    file names). The caller then writes ``lexical.json`` and calls `remove_stale_files`.

    Memory: the vocabulary, the ids and lengths, and the output columns (two int32 per
    posting); the documents are read once and their postings go through a scratch file,
    re-ordered by term a block at a time.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocabulary: dict[str, int] = {}
    ids: list[str] = []
    lengths = array("q")
    df = np.zeros(0, dtype=np.int64)
    blocks: list[int] = []  # postings per block of the scratch file
    # the postings not yet in the scratch file, in document order: three columns
    rows, tfs, slots = array("i"), array("i"), array("i")
    with tempfile.TemporaryFile(dir=folder, prefix=".lexical.", suffix=".scratch") as scratch:

        def flush() -> None:
            nonlocal df, rows, tfs, slots
            if rows:
                df = np.concatenate([df, np.zeros(len(vocabulary) - df.size, np.int64)])
                df += np.bincount(np.frombuffer(rows, dtype=np.int32),
                                  minlength=len(vocabulary))
                for column in (rows, tfs, slots):
                    scratch.write(column.tobytes())
                blocks.append(len(rows))
                rows, tfs, slots = array("i"), array("i"), array("i")

        for doc_id, counts in documents:
            slot = len(ids)
            ids.append(doc_id)
            for term in set(counts).difference(vocabulary):  # rows are re-ordered at the end
                vocabulary[term] = len(vocabulary)
            rows.extend(map(vocabulary.__getitem__, counts))
            tfs.extend(counts.values())
            slots.extend([slot] * len(counts))
            lengths.append(sum(counts.values()))
            if len(rows) >= _BLOCK:
                flush()
        flush()
        terms = sorted(vocabulary)
        rank = np.empty(len(terms), dtype=np.int64)  # first-seen row -> sorted row
        rank[np.fromiter((vocabulary[t] for t in terms), np.int64, len(terms))] = np.arange(
            len(terms))
        vocabulary.clear()
        sorted_df = np.zeros(len(terms), dtype=np.int64)
        sorted_df[rank] = df
        offsets = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(sorted_df, out=offsets[1:])
        out_slots, out_tfs = _scatter(scratch, blocks, rank, offsets)
    total = int(sum(lengths))
    return _write_files(folder, terms, ids, offsets, out_slots, out_tfs,
                        np.frombuffer(lengths, dtype=np.int64) if lengths else
                        np.zeros(0, np.int64), total)


def _scatter(scratch: IO[bytes], blocks: list[int], rank: np.ndarray, offsets: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Postings grouped by row, from the scratch file's blocks of (rows, tfs, slots) columns
    in document order."""
    slots = np.empty(int(offsets[-1]), dtype=np.int32)
    tfs = np.empty(int(offsets[-1]), dtype=np.int32)
    cursor = offsets[:-1].copy()
    scratch.seek(0)
    for size in blocks:
        block = np.frombuffer(scratch.read(12 * size), dtype=np.int32).reshape(3, size)
        rows = rank[block[0]]
        order = np.argsort(rows, kind="stable")  # documents stay in slot order within a row
        rows = rows[order]
        first = np.searchsorted(rows, rows, side="left")
        at = cursor[rows] + (np.arange(rows.size) - first)
        tfs[at] = block[1][order]
        slots[at] = block[2][order]
        present, counts = np.unique(rows, return_counts=True)
        cursor[present] += counts
    return slots, tfs


def _write_files(folder: Path, terms: list[str], ids: list[str], offsets: np.ndarray,
                 slots: np.ndarray, tfs: np.ndarray, lengths: np.ndarray,
                 total_length: int) -> dict[str, Any]:
    tag = secrets.token_hex(8)
    names = {part: f"lexical.{tag}.{part}.json" for part in _LISTS}
    names.update({part: f"lexical.{tag}.{part}.npy" for part in _ARRAYS})
    try:
        for part, values in (("terms", terms), ("ids", ids)):
            atomic_write_text(folder / names[part], json.dumps(values, ensure_ascii=False))
        for part, data in (("offsets", offsets), ("slots", slots), ("tfs", tfs),
                           ("lengths", lengths)):
            column = np.asarray(data, dtype=_ARRAYS[part])
            atomic_write_stream(folder / names[part], lambda handle, column=column:
                                np.lib.format.write_array(handle, column, allow_pickle=False))
    except BaseException:  # a failed save leaves the folder as it was
        for name in names.values():
            (folder / name).unlink(missing_ok=True)
        raise
    return {"documents": len(ids), "terms": len(terms), "postings": int(offsets[-1]),
            "total_length": total_length, "files": names}


def remove_stale_files(folder: str | os.PathLike[str], keep: Mapping[str, str]) -> None:
    """Remove the postings files of earlier saves from `folder` (those `keep` does not name)."""
    wanted = set(keep.values())
    for entry in Path(folder).iterdir():
        if _FILE_RE.match(entry.name) and entry.name not in wanted:
            logger.debug("removing postings file of an earlier save: %s", entry)
            entry.unlink(missing_ok=True)
