"""Hybrid search of a :class:`~nyx.retriever.Retriever` served whole by its Qdrant index.

With the Qdrant backend (a collection with the ``bm25`` sparse vector) the Retriever keeps its
documents' BM25 weights in Qdrant, written by :func:`sync_sparse` from the lexical index's
token counts (same analyzer, same k1/b, avgdl of the whole collection), and text queries are
answered by Qdrant: both rankings, filters pushed into each, and either Nyx's fusion over
Qdrant's scores (``hybrid="exact"``) or a fusion Qdrant runs itself (``formula``, ``rrf``,
``dbsf``; see :mod:`nyx.indexes.qdrant_hybrid`). ``hybrid="local"`` keeps the old path (BM25 from
the in-process lexical index).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from nyx.hybrid import HybridConfig, confidence, fuse_scores
from nyx.indexes import Filter

if TYPE_CHECKING:
    from nyx.retriever import Retriever

logger = logging.getLogger(__name__)

__all__ = ["AVGDL_TOLERANCE", "served_hybrid_search", "serves_hybrid", "sync_sparse"]

#: Stored BM25 weights are rewritten when the collection's average document length moved by
#: more than this fraction since they were written (0: any change, exact BM25 scores).
AVGDL_TOLERANCE = 0.0
_DOC_KEY = "_doc"  # the Retriever's payload key naming a vector's document


def serves_hybrid(retriever: Retriever) -> bool:
    """Whether text queries on this retriever are fused from rankings Qdrant serves."""
    index = retriever.index
    return (retriever.lexical is not None and getattr(index, "has_sparse", False)
            and getattr(getattr(index, "config", None), "hybrid", "local") != "local")


def sync_sparse(retriever: Retriever, ids: list[str] | None = None) -> int:
    """Write the BM25 sparse vectors of ``ids`` (default: the documents added since the last
    sync, or all when the average length moved). Returns how many were written."""
    from nyx.ids import vector_ids
    from nyx.indexes.qdrant_hybrid import QdrantHybrid, bm25_sparse

    lexical = retriever.lexical
    assert lexical is not None
    index: Any = retriever.index
    avgdl = lexical.average_length()
    pending: set[str] = getattr(retriever, "_sparse_pending", set())
    old = index.sparse_avgdl
    if ids is None:
        stale = _stale(old, avgdl)
        if stale and old is not None and avgdl != old:
            logger.info("BM25 avgdl %.3f -> %.3f: rewriting every sparse vector", old, avgdl)
        ids = lexical.ids() if stale else sorted(i for i in pending if i in lexical)
    if ids:
        docs = retriever.store.get_many(ids, skip_missing=True)
        point_ids = [vector_ids(d.id, int(d.payload.get("n_vectors", 1)))[0]
                     for d in docs if d is not None]
        kept = [d.id for d in docs if d is not None]
        config = lexical.config
        vectors = [bm25_sparse(c, config.k1, config.b, avgdl)
                   for c in lexical.term_counts(kept)]
        QdrantHybrid(index, _DOC_KEY).write_sparse(point_ids, vectors, avgdl)
    index.sparse_avgdl = avgdl
    pending.clear()
    return len(ids)


def _stale(written: float | None, avgdl: float) -> bool:
    """Whether weights written with ``written`` as avgdl must be rewritten for ``avgdl``."""
    return written is None or abs(avgdl - written) > AVGDL_TOLERANCE * written


def served_hybrid_search(retriever: Retriever, text: str, vector: np.ndarray, n: int, k: int,
                         flt: Filter | None) -> tuple[list[tuple[str, float]],
                                                      dict[str, float], dict[str, float]]:
    """Fused ``(id, score)`` pairs for one text query, and the dense and BM25 scores known."""
    from nyx.indexes.qdrant_hybrid import QdrantHybrid, query_sparse

    assert retriever.lexical is not None
    index: Any = retriever.index
    if getattr(retriever, "_sparse_pending", None) or _stale(
            index.sparse_avgdl, retriever.lexical.average_length()):
        sync_sparse(retriever)
    served = QdrantHybrid(index, _DOC_KEY)
    query = query_sparse(retriever.lexical.tokenizer(text))
    config: HybridConfig = retriever.hybrid
    method = index.config.hybrid
    if method != "exact":
        adapt = None
        if config.method == "adaptive":
            def adapt(d: np.ndarray, s: np.ndarray) -> float:
                gap = confidence(d) - confidence(s)
                return min(1.0, max(0.0, config.dense_weight + config.alpha * gap))
        ranked = served.fuse(vector, query, k, n, flt, method,
                             dense_weight=config.dense_weight, rrf_k=config.rrf_k, adapt=adapt)
        return ranked, {}, {}
    dense, lexical = served.candidates(vector, query, n, flt)
    ids = list(dict.fromkeys([*dense, *lexical]))
    in_dense = np.array([i in dense for i in ids], dtype=bool)
    in_lexical = np.array([i in lexical for i in ids], dtype=bool)
    more_dense, more_lexical = served.scores(vector, query, [i for i in ids if i not in dense],
                                             [i for i in ids if i not in lexical])
    dense.update(more_dense)
    lexical.update(more_lexical)
    from nyx.candidates import has_text

    ranked = fuse_scores(ids, np.array([dense.get(i, 0.0) for i in ids]),
                         np.array([lexical[i] for i in ids]), config,
                         in_dense=in_dense, in_lexical=in_lexical,
                         has_text=has_text(retriever, ids) if config.textless else None)
    return ranked, dense, lexical
