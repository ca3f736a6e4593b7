"""BM25 lexical index with incremental add and delete.

Okapi BM25 in its Lucene form (the default of bm25s), summed over query tokens::

    idf(t)    = ln(1 + (N - df + 0.5) / (df + 0.5))
    score(d)  = sum_t idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))

N, df and avgdl always describe the documents currently in the index, so adding and
deleting documents gives exactly the scores of an index built from scratch.

Memory: each document keeps its distinct terms (interned) and counts as two tuples, and each
term's postings are two ``array('q')`` columns (slot, tf): about 16 bytes per posting, where
dicts of dicts took ten times that, so a 50 MB text file's index fits in a few hundred MB.

A saved index (:mod:`nyx.indexes.postings`) opens without rebuilding anything: its postings
are memory-mapped and searched in place, and only the first add, replace or delete turns them
into the in-memory structures above (the scores stay exactly those of a fresh build).
Searching a list of queries scores them together, a block of queries at a time.
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

from .atomic import atomic_write_text
from .base import Hit, check_ids
from .postings import Postings, remove_stale_files, write_postings
from .spill import DocumentSpill
from .tokenize import Tokenizer, TokenizerConfig, analyzer_id

logger = logging.getLogger(__name__)

__all__ = ["BM25Config", "LexicalIndex"]

#: a document's distinct terms and their counts, in first-occurrence order
_DocTerms = tuple[tuple[str, ...], tuple[int, ...]]

LEXICAL_FILENAME = "lexical.json"
#: 1: every document's term counts in ``lexical.json`` (still read); 2: memory-mapped postings
_FORMAT_VERSION = 2
#: queries scored together hold at most this many (query, document) score cells
_SCORE_CELLS = 1 << 22
#: query texts whose tokens are remembered (see ``LexicalIndex.query_tokens``)
_QUERY_MEMO = 4096
_QUERY_MEMO_CHARS = 2000


def _idf(n_docs: int, df: int) -> float:
    """BM25's idf of a term in ``df`` of ``n_docs`` documents (Lucene's, never negative)."""
    return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))


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
        #: the postings of a loaded index, searched in place until the first mutation
        self._mapped: Postings | None = None
        self._query_memo: dict[str, list[str]] = {}

    def defer_adds(self, folder: str | os.PathLike[str]) -> None:
        """Append new documents to a spill file in `folder` until something reads the index.

        For builds: postings are then built once, by the first search or delete; `save`
        streams spilled documents into its files without building the in-memory structures.
        Scores and the saved files are those of adding directly.
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
        self._materialise()
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
        if self._mapped is not None:
            if not any(i in self._slot_of for i in ids):
                return 0
            self._materialise()
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

    def _open_mapped(self, postings: Postings) -> None:
        """Search `postings` in place (a loaded index); nothing is built."""
        self._mapped = postings
        self._slot_ids = list(postings.ids)
        self._slot_of = {doc_id: slot for slot, doc_id in enumerate(postings.ids)}
        self._total_length = postings.total_length

    def _materialise(self) -> None:
        """Turn mapped postings into the in-memory structures that add and delete change."""
        mapped = self._mapped
        if mapped is None:
            return
        logger.info("loading %d BM25 documents into memory for a change", len(mapped))
        documents = mapped.documents()  # checks every posting before anything is replaced
        self._slot_of, self._slot_ids, self._doc_terms, self._lengths = {}, [], [], []
        self._total_length, self._postings, self._arrays = 0, {}, {}
        self._length_array, self._mapped = None, None
        for doc_id, counts in documents:
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
        if self._mapped is not None:
            return self._mapped_term_counts(self._mapped, ids)
        out = []
        for doc_id in ids:
            slot = self._slot_of.get(doc_id)
            terms = self._doc_terms[slot] if slot is not None else None
            out.append(dict(zip(*terms)) if terms else {})
        return out

    def _mapped_term_counts(self, mapped: Postings, ids: Sequence[str]
                            ) -> list[dict[str, int]]:
        doc_offsets, rows, tfs = mapped.by_document()
        out = []
        for doc_id in ids:
            slot = self._slot_of.get(doc_id)
            if slot is None:
                out.append({})
                continue
            start, end = int(doc_offsets[slot]), int(doc_offsets[slot + 1])
            out.append({mapped.terms[r]: tf for r, tf in zip(rows[start:end].tolist(),
                                                              tfs[start:end].tolist())})
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

    def _posting(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(slots, tfs)`` of `term`, slots ascending; None when no document has it."""
        if self._mapped is None:
            return self._term_arrays(term) if term in self._postings else None
        arrays = self._arrays.get(term)
        if arrays is None:
            posting = self._mapped.get(term)
            if posting is None:
                return None
            arrays = self._arrays[term] = (posting[0].astype(np.int64),
                                           posting[1].astype(np.float64))
        return arrays

    def _all_lengths(self) -> np.ndarray:
        """Every slot's document length (0 for a deleted slot), as floats."""
        if self._length_array is None:
            lengths = self._mapped.lengths if self._mapped is not None else self._lengths
            self._length_array = np.asarray(lengths, dtype=np.float64)
        return self._length_array

    def _length_norm(self, lengths: np.ndarray, avg_length: float) -> np.ndarray | float:
        """BM25's ``k1 * (1 - b + b * length / avgdl)``, the one expression every scorer here
        uses (so their scores agree bit for bit)."""
        k1, b = self.config.k1, self.config.b
        return k1 * (1.0 - b + b * lengths / avg_length) if avg_length > 0 else k1 * (1.0 - b)

    def _score(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 scores of every document containing a query token: (slots ascending,
        scores). One query's scoring; `_scores` gives the same numbers for many."""
        self._build_postings()
        n_docs = len(self._slot_of)
        all_lengths = self._all_lengths()
        avg_length = self._total_length / n_docs if n_docs else 0.0
        scores = np.zeros(len(self._slot_ids), dtype=np.float64)
        touched: list[np.ndarray] = []
        for term, query_tf in Counter(tokens).items():
            posting = self._posting(term)
            if posting is None:
                continue
            slots, tfs = posting
            df = slots.size
            idf = _idf(n_docs, df)
            lengths = all_lengths[slots]
            norm = self._length_norm(lengths, avg_length)
            scores[slots] += query_tf * idf * tfs / (tfs + norm)
            touched.append(slots)
        if not touched:
            return np.empty(0, dtype=np.int64), np.empty(0)
        slots = np.unique(np.concatenate(touched)) if len(touched) > 1 else touched[0]
        return slots, scores[slots]

    def _scores(self, token_lists: Sequence[Sequence[str]]
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per query, what `_score` gives: ``(slots ascending, scores)``.

        Queries are scored a block at a time: each distinct (term, query count) of the block
        gets its postings' weights once, and one ``np.add.at`` adds them into the block's
        score rows in each query's token order, so every score is the same sum of the same
        terms, bit for bit, as `_score`'s (which a single query uses: less overhead).
        """
        if len(token_lists) == 1:
            yield self._score(token_lists[0])
            return
        self._build_postings()
        n_docs, n_slots = len(self._slot_of), len(self._slot_ids)
        avg_length = self._total_length / n_docs if n_docs else 0.0
        all_lengths = self._all_lengths()
        block = max(1, min(len(token_lists), _SCORE_CELLS // max(n_slots, 1)))
        sums = np.zeros(block * n_slots, dtype=np.float64)
        touched = np.zeros(block * n_slots, dtype=bool)
        for first in range(0, len(token_lists), block):
            queries = token_lists[first:first + block]
            keys: dict[tuple[str, int], int] = {}
            postings: list[tuple[np.ndarray, np.ndarray]] = []
            weights: list[float] = []  # query count * idf, per key
            pair_query, pair_key = array("q"), array("q")
            for position, tokens in enumerate(queries):
                for term, query_tf in Counter(tokens).items():
                    key = keys.get((term, query_tf))
                    if key is None:
                        posting = self._posting(term)
                        key = keys[(term, query_tf)] = -1 if posting is None else len(postings)
                        if posting is not None:
                            df = posting[0].size
                            idf = _idf(n_docs, df)
                            postings.append(posting)
                            weights.append(query_tf * idf)
                    if key >= 0:
                        pair_query.append(position)
                        pair_key.append(key)
            if not pair_key:
                yield from ((np.empty(0, dtype=np.int64), np.empty(0)) for _ in queries)
                continue
            sizes = np.fromiter((p[0].size for p in postings), np.int64, len(postings))
            starts = np.cumsum(sizes) - sizes
            slots = np.concatenate([p[0] for p in postings]).astype(np.int64)
            tfs = np.concatenate([p[1] for p in postings]).astype(np.float64)
            lengths = all_lengths[slots]
            # the same expressions, in the same order, as one query's scoring always used
            norm = self._length_norm(lengths, avg_length)
            weighted = np.repeat(np.asarray(weights), sizes) * tfs / (tfs + norm)
            keys_of = np.frombuffer(pair_key, dtype=np.int64)
            counts = sizes[keys_of]
            entries = np.arange(int(counts.sum())) + np.repeat(
                starts[keys_of] - (np.cumsum(counts) - counts), counts)
            cells = np.repeat(np.frombuffer(pair_query, dtype=np.int64) * n_slots, counts)
            cells += slots[entries]
            np.add.at(sums, cells, weighted[entries])
            touched[cells] = True
            hit = np.flatnonzero(touched[:len(queries) * n_slots])
            values = sums[hit]
            sums[hit], touched[hit] = 0.0, False
            bounds = np.searchsorted(hit, np.arange(len(queries) + 1) * n_slots).tolist()
            for position in range(len(queries)):
                start, end = bounds[position], bounds[position + 1]
                yield hit[start:end] - position * n_slots, values[start:end]

    def search(
        self, query_texts: Sequence[str], k: int, allowed_ids: Iterable[str] | None = None
    ) -> list[list[Hit]]:
        """Top-`k` documents per query, best first (ties: the earlier added first). Only
        documents sharing at least one token with the query are returned; `allowed_ids`
        restricts the candidates. A list of queries is scored together (see `_scores`),
        with exactly the results of searching one query at a time."""
        return [[Hit(i, s) for i, s in pairs]
                for pairs in self.search_pairs(query_texts, k, allowed_ids)]

    def search_pairs(
        self, query_texts: Sequence[str], k: int, allowed_ids: Iterable[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        """:meth:`search` as ``(id, score)`` pairs, without a :class:`Hit` object each."""
        if isinstance(query_texts, str):
            raise ValueError("query_texts must be a list of strings; wrap one query as [query]")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        allowed: np.ndarray | None = None
        self._build_postings()
        if allowed_ids is not None:
            allowed = np.zeros(len(self._slot_ids), dtype=bool)
            allowed[[self._slot_of[i] for i in allowed_ids if i in self._slot_of]] = True
        token_lists = [self.query_tokens(text) for text in query_texts]
        return [self._top(slots, scores, k, allowed)
                for slots, scores in self._scores(token_lists)]

    def _top(self, slots: np.ndarray, scores: np.ndarray, k: int,
             allowed: np.ndarray | None) -> list[tuple[str, float]]:
        if allowed is not None:
            keep = allowed[slots]
            slots, scores = slots[keep], scores[keep]
        if slots.size > k:
            top = np.argpartition(-scores, k - 1)[:k]
            slots, scores = slots[top], scores[top]
        order = np.lexsort((slots, -scores))  # best score first, then insertion order
        slot_ids = self._slot_ids
        return [(slot_ids[s] or "", v)
                for s, v in zip(slots[order].tolist(), scores[order].tolist())]

    def query_tokens(self, text: str) -> list[str]:
        """``self.tokenizer(text)``, remembered for the last few thousand query texts: one
        search tokenises its query for the ranking, the fusion's lookups and the relevance
        ceiling (a caller must not change the list)."""
        tokens = self._query_memo.get(text)
        if tokens is None:
            tokens = self.tokenizer(text)
            if len(text) <= _QUERY_MEMO_CHARS:  # a whole document as the query is not kept
                if len(self._query_memo) >= _QUERY_MEMO:
                    self._query_memo.clear()
                self._query_memo[text] = tokens
        return tokens

    def score_ceiling(self, query_text: str) -> float:
        """The largest BM25 score any document could reach for `query_text`: the sum of the
        query tokens' idf (a term's BM25 part tends to ``idf`` as its frequency grows), a
        token no document holds counted at the idf of ``df = 0``. A score divided by it is
        the share of the query a document matches, comparable across queries and corpora
        (:mod:`nyx.relevance` calibrates it); 0.0 for a query without tokens."""
        self._build_postings()
        n_docs = len(self._slot_of)
        total = 0.0
        for term, query_tf in Counter(self.query_tokens(query_text)).items():
            posting = self._posting(term)
            df = 0 if posting is None else posting[0].size
            total += query_tf * _idf(n_docs, df)
        return total

    def get_scores(self, query_text: str, ids: Sequence[str]) -> np.ndarray:
        """BM25 scores of `query_text` for the given ids (0 for no overlap or unknown).

        Only these documents are scored: each query term's postings are searched for their
        slots (postings are slot-ascending), and the terms add up in `_score`'s order with its
        arithmetic, so a score is bit for bit the one a search gives."""
        self._build_postings()
        wanted = np.fromiter((self._slot_of.get(i, -1) for i in ids), np.int64, len(ids))
        out = np.zeros(len(ids), dtype=np.float64)
        known = np.flatnonzero(wanted >= 0)
        slots = wanted[known]
        if slots.size == 0:
            return out
        n_docs = len(self._slot_of)
        all_lengths = self._all_lengths()
        avg_length = self._total_length / n_docs if n_docs else 0.0
        sums = np.zeros(slots.size, dtype=np.float64)
        for term, query_tf in Counter(self.query_tokens(query_text)).items():
            posting = self._posting(term)
            if posting is None:
                continue
            posting_slots, tfs = posting
            df = posting_slots.size
            idf = _idf(n_docs, df)
            at = np.minimum(np.searchsorted(posting_slots, slots), df - 1)
            hit = posting_slots[at] == slots
            found, lengths = tfs[at[hit]], all_lengths[slots[hit]]
            norm = self._length_norm(lengths, avg_length)
            sums[hit] += query_tf * idf * found / (found + norm)
        out[known] = sums
        return out

    # Persistence -----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index into folder `path`: its postings files (see
        :mod:`nyx.indexes.postings`), then ``lexical.json``, which names them, atomically.

        Spilled documents (`defer_adds`) are streamed from the spill into the postings
        without building the in-memory structures; a loaded, unchanged index copies its files.
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        if self._mapped is not None and not (self._spill is not None and len(self._spill)):
            saved = self._mapped.write(folder)
        else:
            self._materialise()
            saved = write_postings(folder, self._documents())
        head = {"format_version": _FORMAT_VERSION, "config": dataclasses.asdict(self.config),
                **saved}
        atomic_write_text(folder / LEXICAL_FILENAME, json.dumps(head, ensure_ascii=False) + "\n")
        remove_stale_files(folder, saved["files"])
        logger.info("saved lexical index (%d documents) to %s", self.count(), folder)

    def _documents(self) -> Iterator[tuple[str, dict[str, int]]]:
        """Every live document and its term counts in slot order, then the spilled ones."""
        for doc_id, terms in zip(self._slot_ids, self._doc_terms):
            if doc_id is not None and terms is not None:
                yield doc_id, dict(zip(*terms))
        for line in self._spill.lines() if self._spill is not None else ():
            doc_id, counts = json.loads(line)
            yield doc_id, counts

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LexicalIndex:
        """Open an index written by `save`: format 2 maps its postings (nothing is rebuilt),
        format 1 (``lexical.json`` holding every document) re-indexes its documents."""
        file = Path(path) / LEXICAL_FILENAME
        try:
            state = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no lexical index at {file}; build it first (LexicalIndex.save)"
            ) from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{file} cannot be read ({exc}); rebuild the index") from None
        if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
            raise ValueError(f"{file} is not a lexical index (no 'config'); rebuild the index")
        version = state.get("format_version", 0)
        if not isinstance(version, int) or version > _FORMAT_VERSION:
            raise ValueError(f"{file} was saved by a newer Nyx; upgrade to load it")
        config = dict(state["config"])
        config["tokenizer"] = TokenizerConfig.from_saved(config.get("tokenizer", {}))
        index = cls(BM25Config(**config))
        if version >= 2:
            index._open_mapped(Postings.open(Path(path), state))
            return index
        for doc_id, counts in state["documents"]:
            index._insert(doc_id, {term: int(tf) for term, tf in counts.items()})
        return index

    def analyzer_id(self) -> str:
        """The analyzer's name (see :func:`nyx.indexes.tokenize.analyzer_id`)."""
        return analyzer_id(self.config.tokenizer)

    def __repr__(self) -> str:  # builds nothing: postings of spilled documents are not counted
        spilled = f", spilled={len(self._spill)}" if self._spill is not None else ""
        terms = len(self._mapped.terms) if self._mapped is not None else len(self._postings)
        return f"LexicalIndex(documents={self.count()}, terms={terms}{spilled})"
