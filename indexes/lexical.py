"""BM25 lexical index with incremental add and delete.

Okapi BM25 in its Lucene form (the default of bm25s), summed over query tokens::

    idf(t)    = ln(1 + (N - df + 0.5) / (df + 0.5))
    score(d)  = sum_t idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))

N, df and avgdl always describe the documents currently in the index, so adding and
deleting documents gives exactly the scores of an index built from scratch.

Memory: each document keeps its distinct terms (interned) and counts as two tuples, and each
term's postings are two ``array('q')`` columns (slot, tf): about 16 bytes per posting, where
dicts of dicts took ten times that, so a 50 MB text file's index fits in a few hundred MB.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import logging
import math
import os
import sys
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_write_chunks
from .base import Hit, check_ids
from .spill import DocumentSpill
from .tokenize import Tokenizer, TokenizerConfig, analyzer_id

logger = logging.getLogger(__name__)

__all__ = ["BM25Config", "LexicalIndex"]

#: a document's distinct terms and their counts, in first-occurrence order
_DocTerms = tuple[tuple[str, ...], tuple[int, ...]]

LEXICAL_FILENAME = "lexical.json"
_FORMAT_VERSION = 1


@dataclass
class BM25Config:
    """BM25 parameters and the tokenizer settings; saved with the index."""

    #: chosen with Nyx's analyzer over four QA domains (``nyx-bench fusion-domains``)
    k1: float = 0.9
    b: float = 0.9
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)

    def __post_init__(self) -> None:
        if isinstance(self.tokenizer, dict):
            self.tokenizer = TokenizerConfig(**self.tokenizer)
        if self.k1 < 0 or not 0.0 <= self.b <= 1.0:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={self.k1}, b={self.b}")


class LexicalIndex:
    """An in-memory inverted index over documents, keyed by string ids."""

    def __init__(self, config: BM25Config | None = None) -> None:
        self.config = config or BM25Config()
        self.tokenizer = Tokenizer(self.config.tokenizer)
        self._slot_of: dict[str, int] = {}
        self._slot_ids: list[str | None] = []
        self._doc_terms: list[_DocTerms | None] = []
        self._lengths: list[int] = []
        self._total_length = 0
        #: term -> (slots, term frequencies), in insertion order
        self._postings: dict[str, tuple[array, array]] = {}
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._length_array: np.ndarray | None = None
        self._spill: DocumentSpill | None = None  # see defer_adds

    def defer_adds(self, folder: str | os.PathLike[str]) -> None:
        """Append new documents to a spill file in `folder` until something reads the index.

        For builds: postings are then built once, by the first search or delete; `save`
        streams spilled documents into ``lexical.json`` without building them at all. Scores
        and the saved file are those of adding directly.
        """
        if self._spill is None:
            self._spill = DocumentSpill(Path(folder) / "lexical.jsonl")

    def close(self) -> None:
        """Remove the spill file of `defer_adds`, if any: documents only spilled since the
        last `save` are dropped with it."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def _build_postings(self) -> None:
        if self._spill is not None and len(self._spill):
            logger.info("indexing %d deferred documents for BM25", len(self._spill))
            for doc_id, counts in self._spill.drain():
                self._insert(doc_id, counts)

    # Mutation --------------------------------------------------------------------------

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Index texts under `ids`, replacing documents whose ids already exist."""
        ids = check_ids(ids)
        texts = list(texts)
        if len(texts) != len(ids):
            raise ValueError(f"got {len(ids)} ids but {len(texts)} texts; pass one text per id")
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"texts[{position}] must be str, got {type(text).__name__}")
        self._add_counts(ids, [self.tokenizer.counts(text) for text in texts])

    def add_tokens(self, ids: Sequence[str], tokens: Sequence[Sequence[str]]) -> None:
        """Index already-tokenised documents (tokens must come from `self.tokenizer`)."""
        ids = check_ids(ids)
        if len(tokens) != len(ids):
            raise ValueError(f"got {len(ids)} ids but {len(tokens)} token lists")
        self._add_counts(ids, [dict(Counter(doc_tokens)) for doc_tokens in tokens])

    def _add_counts(self, ids: list[str], counts: list[dict[str, int]]) -> None:
        self._remove(ids)  # a replaced spilled document: the spill is indexed first
        for doc_id, doc_counts in zip(ids, counts):
            if self._spill is not None:
                self._spill.append(doc_id, doc_counts)
            else:
                self._insert(doc_id, doc_counts)

    def _insert(self, doc_id: str, counts: dict[str, int]) -> None:
        slot = len(self._slot_ids)
        self._slot_of[doc_id] = slot
        self._slot_ids.append(doc_id)
        terms = tuple(sys.intern(term) for term in counts)
        self._doc_terms.append((terms, tuple(counts.values())))
        length = sum(counts.values())
        self._lengths.append(length)
        self._total_length += length
        for term, tf in zip(terms, counts.values()):
            posting = self._postings.get(term)
            if posting is None:
                posting = self._postings[term] = (array("q"), array("q"))
            posting[0].append(slot)
            posting[1].append(tf)
            self._arrays.pop(term, None)
        self._length_array = None

    def delete(self, ids: Iterable[str]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many were removed."""
        removed = self._remove(list(dict.fromkeys(ids)))
        if len(self._slot_ids) > 1024 and len(self._slot_of) < len(self._slot_ids) // 2:
            self._compact()
        return removed

    def _remove(self, ids: Sequence[str]) -> int:
        if self._spill is not None and any(i in self._spill for i in ids):
            self._build_postings()
        removed = 0
        for doc_id in ids:
            slot = self._slot_of.pop(doc_id, None)
            if slot is None:
                continue
            terms = self._doc_terms[slot]
            for term in terms[0] if terms else ():
                slots, tfs = self._postings[term]
                at = bisect.bisect_left(slots, slot)  # slots ascend: _insert appends new ones
                del slots[at], tfs[at]
                if not slots:
                    del self._postings[term]
                self._arrays.pop(term, None)
            self._total_length -= self._lengths[slot]
            self._slot_ids[slot], self._doc_terms[slot], self._lengths[slot] = None, None, 0
            removed += 1
        return removed

    def _compact(self) -> None:
        live = [
            (doc_id, dict(zip(*terms)))
            for doc_id, terms in zip(self._slot_ids, self._doc_terms)
            if doc_id is not None and terms is not None
        ]
        logger.debug(
            "compacting lexical index: %d live of %d slots", len(live), len(self._slot_ids)
        )
        self._slot_of, self._slot_ids, self._doc_terms, self._lengths = {}, [], [], []
        self._total_length, self._postings, self._arrays = 0, {}, {}
        for doc_id, counts in live:
            self._insert(doc_id, counts)

    # Reading ---------------------------------------------------------------------------

    def count(self) -> int:
        return len(self._slot_of) + (len(self._spill) if self._spill is not None else 0)

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, id: object) -> bool:
        return id in self._slot_of or (self._spill is not None and id in self._spill)

    def ids(self) -> list[str]:
        spilled = self._spill.ids if self._spill is not None else set()
        return sorted([*self._slot_of, *spilled])

    def term_counts(self, ids: Sequence[str]) -> list[dict[str, int]]:
        """Each document's token counts (empty for unknown ids), e.g. to export BM25 weights."""
        self._build_postings()
        out = []
        for doc_id in ids:
            slot = self._slot_of.get(doc_id)
            terms = self._doc_terms[slot] if slot is not None else None
            out.append(dict(zip(*terms)) if terms else {})
        return out

    def average_length(self) -> float:
        """The mean document length in tokens (BM25's avgdl); 0 for an empty index."""
        self._build_postings()
        return self._total_length / len(self._slot_of) if self._slot_of else 0.0

    def _term_arrays(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        arrays = self._arrays.get(term)
        if arrays is None:
            slots, tfs = self._postings[term]
            arrays = self._arrays[term] = (np.frombuffer(slots, dtype=np.int64).copy(),
                                           np.frombuffer(tfs, dtype=np.int64).astype(np.float64))
        return arrays

    def _score(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 scores of every document containing a query token: (slots, scores)."""
        self._build_postings()
        n_docs = len(self._slot_of)
        if self._length_array is None:
            self._length_array = np.asarray(self._lengths, dtype=np.float64)
        avg_length = self._total_length / n_docs if n_docs else 0.0
        k1, b = self.config.k1, self.config.b
        scores = np.zeros(len(self._slot_ids), dtype=np.float64)
        touched: list[np.ndarray] = []
        for term, query_tf in Counter(tokens).items():
            if term not in self._postings:
                continue
            slots, tfs = self._term_arrays(term)
            df = slots.size
            idf = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
            lengths = self._length_array[slots]
            norm = k1 * (1.0 - b + b * lengths / avg_length) if avg_length > 0 else k1 * (1.0 - b)
            scores[slots] += query_tf * idf * tfs / (tfs + norm)
            touched.append(slots)
        if not touched:
            return np.empty(0, dtype=np.int64), np.empty(0)
        slots = np.unique(np.concatenate(touched))
        return slots, scores[slots]

    def search(
        self, query_texts: Sequence[str], k: int, allowed_ids: Iterable[str] | None = None
    ) -> list[list[Hit]]:
        """Top-`k` documents per query, best first. Only documents sharing at least one
        token with the query are returned; `allowed_ids` restricts the candidates."""
        if isinstance(query_texts, str):
            raise ValueError("query_texts must be a list of strings; wrap one query as [query]")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        allowed: np.ndarray | None = None
        self._build_postings()
        if allowed_ids is not None:
            allowed_slots = [self._slot_of[i] for i in allowed_ids if i in self._slot_of]
            allowed = np.asarray(sorted(allowed_slots), dtype=np.int64)
        return [self._search_one(self.tokenizer(text), k, allowed) for text in query_texts]

    def _search_one(self, tokens: Sequence[str], k: int, allowed: np.ndarray | None) -> list[Hit]:
        slots, scores = self._score(tokens)
        if allowed is not None:
            keep = np.isin(slots, allowed, assume_unique=True)
            slots, scores = slots[keep], scores[keep]
        if slots.size > k:
            top = np.argpartition(-scores, k - 1)[:k]
            slots, scores = slots[top], scores[top]
        order = np.lexsort((slots, -scores))  # best score first, then insertion order
        return [Hit(self._slot_ids[s] or "", float(v)) for s, v in zip(slots[order], scores[order])]

    def get_scores(self, query_text: str, ids: Sequence[str]) -> np.ndarray:
        """BM25 scores of `query_text` for the given ids (0 for no overlap or unknown)."""
        slots, scores = self._score(self.tokenizer(query_text))
        by_slot = dict(zip(slots.tolist(), scores.tolist()))
        return np.asarray(
            [by_slot.get(self._slot_of.get(i, -1), 0.0) for i in ids], dtype=np.float64
        )

    # Persistence -----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write `lexical.json` into folder `path` atomically."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        head = json.dumps({"format_version": _FORMAT_VERSION,
                           "config": dataclasses.asdict(self.config)}, ensure_ascii=False)

        def pieces() -> Iterator[str]:
            # The same JSON as one json.dumps of the whole state, written a document at a time
            # so that a large index is never held twice in memory as one string.
            yield head[:-1] + ', "documents": ['
            first = True
            for doc_id, terms in zip(self._slot_ids, self._doc_terms):
                if doc_id is None or terms is None:
                    continue
                counts = dict(zip(*terms))
                yield ("" if first else ", ") + json.dumps([doc_id, counts], ensure_ascii=False)
                first = False
            for line in self._spill.lines() if self._spill is not None else ():
                yield ("" if first else ", ") + line  # spilled documents: already this JSON
                first = False
            yield "]}\n"

        atomic_write_chunks(folder / LEXICAL_FILENAME, pieces())
        logger.info("saved lexical index (%d documents) to %s", self.count(), folder)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LexicalIndex:
        """Open an index written by `save`."""
        file = Path(path) / LEXICAL_FILENAME
        try:
            state = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no lexical index at {file}; build it first (LexicalIndex.save)"
            ) from None
        if state.get("format_version", 0) > _FORMAT_VERSION:
            raise ValueError(f"{file} was saved by a newer Nyx; upgrade to load it")
        config = dict(state["config"])
        config["tokenizer"] = TokenizerConfig.from_saved(config.get("tokenizer", {}))
        index = cls(BM25Config(**config))
        for doc_id, counts in state["documents"]:
            index._insert(doc_id, {term: int(tf) for term, tf in counts.items()})
        return index

    def analyzer_id(self) -> str:
        """The analyzer's name (see :func:`nyx.indexes.tokenize.analyzer_id`)."""
        return analyzer_id(self.config.tokenizer)

    def __repr__(self) -> str:  # builds nothing: postings of spilled documents are not counted
        spilled = f", spilled={len(self._spill)}" if self._spill is not None else ""
        return f"LexicalIndex(documents={self.count()}, terms={len(self._postings)}{spilled})"
