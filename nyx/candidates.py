"""Where the candidates of one search come from: one small interface, two backends.

A candidate source answers :meth:`LocalSource.rank` -- the ``n`` best documents of a query in
one mode, with the dense and BM25 scores it saw -- for :meth:`nyx.Retriever.search`, which
groups, reranks and scores the hits. :class:`LocalSource` ranks with any
:class:`~nyx.indexes.VectorIndex` (dense, each document by its best chunk) and the in-process
:class:`~nyx.indexes.LexicalIndex` (BM25); :class:`nyx.served_hybrid.ServedSource` lets a
Qdrant collection serve both rankings of a hybrid query. Both end in the same fusion tail,
:func:`nyx.hybrid.fuse_candidates`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from nyx.hybrid import HybridConfig, fuse_candidates
from nyx.ids import document_id, vector_ids
from nyx.indexes import DocStore, DocSummary, Filter, LexicalIndex, VectorIndex
from nyx.search_options import Modality, Mode

__all__ = ["CandidateQuery", "Ranking", "LocalSource", "ModalityIds", "best_chunks"]


@dataclass
class CandidateQuery:
    """One query as a candidate source sees it."""

    text: str
    vector: np.ndarray | None
    filter: Filter | None = None
    #: only these documents may be returned (a ``modality`` search); ``None``: any
    allowed: set[str] | None = None
    #: the documents BM25 may return (the filter's matches within ``allowed``); ``None``: all
    lexical_ids: Iterable[str] | None = None
    #: dense hits computed for a whole batch of queries, deep enough for the first ``rank``
    dense_hits: dict[str, float] | None = None
    #: BM25 hits computed for a whole batch of queries, likewise
    lexical_hits: dict[str, float] | None = None


@dataclass
class Ranking:
    """The ``(id, score)`` pairs of one ranking, best first, and the scores seen on the way."""

    ranked: list[tuple[str, float]]
    dense: dict[str, float] = field(default_factory=dict)
    lexical: dict[str, float] = field(default_factory=dict)


class LocalSource:
    """Dense hits from a vector index and BM25 hits from the in-process lexical index."""

    #: whether hybrid rankings come from elsewhere than :meth:`dense_many` / :meth:`bm25_many`
    #: (a caller then need not compute those for a batch of hybrid queries)
    serves_hybrid: bool = False

    def __init__(self, index: VectorIndex, lexical: LexicalIndex | None, store: DocStore,
                 hybrid: HybridConfig) -> None:
        self.index, self.lexical, self.store, self.hybrid = index, lexical, store, hybrid
        self._summaries: dict[str, DocSummary | None] = {}

    def summaries(self, ids: list[str]) -> list[DocSummary | None]:
        """The store's :meth:`~nyx.indexes.DocStore.summaries`, each read once for the life
        of this source (one search call): the fusion's lookups, the text check and the
        grouping of one query all need the same candidates'."""
        known = self._summaries
        unread = [i for i in ids if i not in known]
        if unread:
            known.update(zip(unread, self.store.summaries(unread)))
        return [known[i] for i in ids]

    def rank(self, query: CandidateQuery, mode: Mode, n: int) -> Ranking:
        """The ``n`` best documents for ``query`` in ``mode`` (dense, lexical or hybrid)."""
        if mode == "dense":
            dense = self.dense(query, n)
            return Ranking(sorted(dense.items(), key=lambda kv: -kv[1]), dense)
        if mode == "lexical":
            lexical = self.bm25(query, n)
            return Ranking(sorted(lexical.items(), key=lambda kv: -kv[1]), {}, lexical)
        return self.hybrid_rank(query, n)

    def hybrid_rank(self, query: CandidateQuery, n: int) -> Ranking:
        dense, lexical = self.dense(query, n), self.bm25(query, n)
        ranked = fuse_candidates(dense, lexical,
                                 lambda d, lx: self.missing_scores(query, d, lx),
                                 self.hybrid, self.has_text)
        return Ranking(ranked, dense, lexical)

    # -- the two rankings -------------------------------------------------------------------

    def dense(self, query: CandidateQuery, n: int) -> dict[str, float]:
        if query.dense_hits is not None:
            return dict(query.dense_hits)
        assert query.vector is not None, "dense and hybrid search need a query vector"
        return self.dense_many(query.vector[None, :], n, query.filter, query.allowed)[0]

    def dense_many(self, vectors: np.ndarray, n: int, flt: Filter | None,
                   allowed: set[str] | None = None) -> list[dict[str, float]]:
        """The ``n`` best documents for each query vector, by their best chunk's score.

        One index search serves every vector. A document with many chunks may fill a query's
        hits alone: that query alone is searched again, twice as wide each time, until ``n``
        documents are among its hits or the index has no more matching vectors.
        """
        total, documents = self.index.count(), self.store.count()
        # enough vectors for n documents at the index's chunks per document, with slack; a
        # query whose documents have more chunks than that is searched again, wider
        per_document = total / documents if total > documents > 0 else 1.0
        fetch = min(n if per_document == 1.0 else math.ceil(n * per_document * 1.5) + 16,
                    max(total, 1))
        out = []
        for vector, hits in zip(vectors, self.index.search_pairs(vectors, fetch, flt)):
            width, best = fetch, best_chunks(hits, allowed)
            while len(best) < n and len(hits) >= width and width < total:
                width = min(width * 2, total)
                hits = self.index.search_pairs(vector[None, :], width, flt)[0]
                best = best_chunks(hits, allowed)
            out.append(dict(sorted(best.items(), key=lambda kv: -kv[1])[:n]))
        return out

    def bm25(self, query: CandidateQuery, n: int) -> dict[str, float]:
        if query.lexical_hits is not None:
            return dict(query.lexical_hits)
        return self.bm25_many([query.text], n, query.lexical_ids)[0]

    def bm25_many(self, texts: list[str], n: int,
                  candidates: Iterable[str] | None = None) -> list[dict[str, float]]:
        """The ``n`` best documents by BM25 for each text, scored together in one call
        (``candidates``: the documents that may be returned; ``None``: all)."""
        assert self.lexical is not None, "lexical and hybrid search need a lexical index"
        return [dict(pairs)
                for pairs in self.lexical.search_pairs(texts, n, allowed_ids=candidates)]

    def lexical_candidates(self, flt: Filter | None,
                           allowed: set[str] | None) -> Iterable[str] | None:
        """The documents BM25 may return (``None``: all): the filter's matches (a scan of the
        store's metadata, done once per search call), within ``allowed``."""
        if flt is None:
            return allowed
        matching = self.store.ids_matching(flt)
        return matching if allowed is None else [i for i in matching if i in allowed]

    # -- what the fusion tail looks up -----------------------------------------------------

    def missing_scores(self, query: CandidateQuery, dense_missing: list[str],
                       lexical_missing: list[str]
                       ) -> tuple[dict[str, float], dict[str, float]]:
        """The dense and BM25 scores of candidates the other ranking retrieved."""
        dense: dict[str, float] = {}
        if dense_missing and query.vector is not None:
            counts = [s.n_vectors if s is not None else 1
                      for s in self.summaries(dense_missing)]
            # one vector-index read for every missing document's chunks, not one per document
            scores = self.index.get_vectors([v for doc_id, n in zip(dense_missing, counts)
                                             for v in vector_ids(doc_id, n)]) @ query.vector
            starts = np.concatenate([[0], np.cumsum(counts[:-1])]).astype(np.int64)
            dense = dict(zip(dense_missing, np.maximum.reduceat(scores, starts).tolist()))
        lexical: dict[str, float] = {}
        if lexical_missing and self.lexical is not None:
            lexical = dict(zip(lexical_missing,
                               self.lexical.get_scores(query.text, lexical_missing).tolist()))
        return dense, lexical

    def has_text(self, ids: list[str]) -> np.ndarray:
        """Whether each document has searchable text (unknown ids count as having it): read
        for these candidates only, not by scanning the whole store."""
        return np.array([s is None or s.has_text for s in self.summaries(ids)], dtype=bool)


class ModalityIds:
    """Ids of the documents with an image (``"image"``) or with text parts (``"text"``): read
    from the store once and kept until :meth:`forget` (the retriever calls it on every write)."""

    def __init__(self, store: DocStore) -> None:
        self.store = store
        self._kinds: dict[str, set[str]] | None = None

    def forget(self) -> None:
        self._kinds = None

    def __call__(self, modality: Modality) -> set[str]:
        if self._kinds is None:
            kinds: dict[str, set[str]] = {"text": set(), "image": set()}
            for batch in self.store.iter_documents(2000):
                for doc in batch:
                    parts = doc.payload.get("parts") or []
                    if any("image" in p for p in parts):
                        kinds["image"].add(doc.id)
                    if any("text" in p for p in parts):
                        kinds["text"].add(doc.id)
            self._kinds = kinds
        return self._kinds[modality]


def best_chunks(hits: Iterable[tuple[str, float]],
                allowed: set[str] | None) -> dict[str, float]:
    """Document id -> the score of its best chunk among ``(vector id, score)`` hits (within
    ``allowed``)."""
    best: dict[str, float] = {}
    for vector_id, score in hits:
        doc = document_id(vector_id)
        if allowed is not None and doc not in allowed:
            continue
        if doc not in best or score > best[doc]:
            best[doc] = score
    return best
