"""Hybrid search of a :class:`~nyx.retriever.Retriever` served whole by its Qdrant index.

With the Qdrant backend (a collection with the ``bm25`` sparse vector) the Retriever keeps its
documents' BM25 weights in Qdrant, written by :class:`SparseSync` from the lexical index's
token counts (same analyzer, same k1/b, avgdl of the whole collection), and text queries are
answered by Qdrant (:class:`ServedSource`): both rankings, filters pushed into each, and either
Nyx's fusion tail over Qdrant's scores (``hybrid="exact"``) or a fusion Qdrant runs itself
(``formula``, ``rrf``, ``dbsf``; see :mod:`nyx.indexes.qdrant_hybrid`). ``hybrid="local"``
keeps the local path (BM25 from the in-process lexical index), as does a ``modality`` search.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from nyx.candidates import CandidateQuery, LocalSource, Ranking
from nyx.hybrid import HybridConfig, confidence, fuse_candidates
from nyx.ids import vector_ids
from nyx.indexes import DocStore, LexicalIndex, VectorIndex

logger = logging.getLogger(__name__)

__all__ = ["AVGDL_TOLERANCE", "ServedSource", "SparseSync"]

#: Stored BM25 weights are rewritten when the collection's average document length moved by
#: more than this fraction since they were written (0: any change, exact BM25 scores).
AVGDL_TOLERANCE = 0.0
_DOC_KEY = "_doc"  # the Retriever's payload key naming a vector's document


class SparseSync:
    """Keeps the BM25 weights stored in an index (``index.supports_sparse``) in step with the
    lexical index: documents added since the last sync are written, and every document when
    the average length moved."""

    def __init__(self, index: VectorIndex) -> None:
        self.index = index
        #: documents whose weights are not written yet
        self.pending: set[str] = set()

    def added(self, ids: list[str]) -> None:
        self.pending.update(ids)

    def needed(self, lexical: LexicalIndex) -> bool:
        return bool(self.pending) or _stale(self.index.sparse_avgdl, lexical.average_length())

    def sync(self, lexical: LexicalIndex, store: DocStore,
             ids: list[str] | None = None) -> int:
        """Write the BM25 sparse vectors of ``ids`` (default: the pending documents, or all
        when the average length moved). Returns how many were written."""
        from nyx.indexes.qdrant_hybrid import QdrantHybrid, bm25_sparse

        avgdl = lexical.average_length()
        old = self.index.sparse_avgdl
        if ids is None:
            stale = _stale(old, avgdl)
            if stale and old is not None and avgdl != old:
                logger.info("BM25 avgdl %.3f -> %.3f: rewriting every sparse vector", old, avgdl)
            ids = lexical.ids() if stale else sorted(i for i in self.pending if i in lexical)
        docs = [d for d in store.get_many(ids, skip_missing=True) if d is not None]
        point_ids = [vector_ids(d.id, int(d.payload.get("n_vectors", 1)))[0] for d in docs]
        config = lexical.config
        vectors = [bm25_sparse(c, config.k1, config.b, avgdl)
                   for c in lexical.term_counts([d.id for d in docs])]
        # records avgdl in the index even when nothing needed writing
        QdrantHybrid(self.index, _DOC_KEY).write_sparse(point_ids, vectors, avgdl)
        self.pending.clear()
        return len(ids)


def _stale(written: float | None, avgdl: float) -> bool:
    """Whether weights written with ``written`` as avgdl must be rewritten for ``avgdl``."""
    return written is None or abs(avgdl - written) > AVGDL_TOLERANCE * written


class ServedSource(LocalSource):
    """A :class:`~nyx.candidates.LocalSource` whose hybrid rankings Qdrant serves (dense-only
    and lexical-only searches, and modality searches, stay local)."""

    serves_hybrid = True

    def __init__(self, index: VectorIndex, lexical: LexicalIndex, store: DocStore,
                 hybrid: HybridConfig, sparse: SparseSync) -> None:
        super().__init__(index, lexical, store, hybrid)
        self.sparse = sparse
        self.lexical_index = lexical

    def hybrid_rank(self, query: CandidateQuery, n: int) -> Ranking:
        from nyx.indexes.qdrant_hybrid import QdrantHybrid, query_sparse

        if query.allowed is not None:  # among one modality's documents: the local path
            return super().hybrid_rank(query, n)
        lexical = self.lexical_index
        if self.sparse.needed(lexical):
            self.sparse.sync(lexical, self.store)
        assert query.vector is not None, "hybrid search needs a query vector"
        vector = query.vector
        served = QdrantHybrid(self.index, _DOC_KEY)
        sparse_query = query_sparse(lexical.tokenizer(query.text))
        method = self.index.sparse_fusion
        if method != "exact":
            return Ranking(served.fuse(vector, sparse_query, n, n, query.filter, method,
                                          dense_weight=self.hybrid.dense_weight,
                                          rrf_k=self.hybrid.rrf_k, adapt=self._adapt()))
        dense, bm25 = served.candidates(vector, sparse_query, n, query.filter)
        ranked = fuse_candidates(dense, bm25,
                                 lambda d, lx: served.scores(vector, sparse_query, d, lx),
                                 self.hybrid, self.has_text)
        return Ranking(ranked, dense, bm25)

    def _adapt(self) -> Callable[[np.ndarray, np.ndarray], float] | None:
        """The per-query dense weight of the ``adaptive`` method, for Qdrant's formula."""
        config = self.hybrid
        if config.method != "adaptive":
            return None

        def adapt(d: np.ndarray, s: np.ndarray) -> float:
            gap = confidence(d) - confidence(s)
            return min(1.0, max(0.0, config.dense_weight + config.alpha * gap))
        return adapt
