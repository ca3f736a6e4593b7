"""Hybrid (dense + BM25) search served by Qdrant: sparse BM25 vectors and server-side fusion.

BM25 in Qdrant's terms: each document's first point carries a sparse vector named ``bm25``
whose value for term ``t`` is the BM25 term-frequency factor
``tf / (tf + k1 * (1 - b + b * |d| / avgdl))``; the query is the sparse vector of its token
counts, and the collection's IDF modifier multiplies each query term by
``ln(1 + (N - df + 0.5) / (df + 0.5))``, the same IDF as :mod:`nyx.indexes.lexical`. The dot product
is then exactly the local BM25 score, provided the tokens come from the same analyzer and
``avgdl`` is the collection's (documents written while ``avgdl`` was different are rewritten:
:meth:`QdrantHybrid.write_sparse`). Terms become sparse indices through a 32-bit hash (no shared
vocabulary, so many writers can upsert at once); two terms colliding share one index.

Fusion (``fuse``): the methods Qdrant can run itself, all with both rankings as prefetches and
the filter pushed into each:

``rrf``      Qdrant's weighted RRF. Its weight divides the rank (``1 / (rank / v + k - 1)``,
             given ``v = 2w``) where Nyx's multiplies the contribution (``2w / (k + rank)``):
             the same at w = 0.5 (plain RRF), close elsewhere.
``dbsf``     Qdrant's distribution-based score fusion (mean +- 3 sigma normalisation, equal
             weights), the closest built-in to min-max.
``formula``  Nyx's ``adaptive`` fusion as a Qdrant formula: a first round trip fetches both
             rankings and the client derives the per-query weight and the min-max scales from
             them; the second runs ``a * $score[0] + b * $score[1]`` in Qdrant. What it cannot
             know is the score of a candidate one ranking did not retrieve (Nyx looks it up):
             a missing dense score defaults to the dense list's lowest, a missing BM25 to 0.

and ``exact`` (:meth:`QdrantHybrid.candidates` + :meth:`QdrantHybrid.scores`): both rankings
and the missing scores from Qdrant, fused by the caller with Nyx's own code; identical to the
local result up to float32 rounding.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .filters import Filter
from .qdrant_index import SPARSE_VECTOR, QdrantIndex
from .qdrant_points import ID_PAYLOAD_KEY, point_id, to_qdrant_filter

logger = logging.getLogger(__name__)

__all__ = ["SERVER_FUSIONS", "QdrantHybrid", "SparseVector", "bm25_sparse", "term_index"]

#: fusion methods run inside Qdrant
SERVER_FUSIONS: tuple[str, ...] = ("formula", "rrf", "dbsf")


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


def term_index(term: str) -> int:
    """The sparse index of a token: a stable 32-bit hash (Qdrant indices are uint32)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "big")


def _merge(weights: Mapping[str, float]) -> SparseVector:
    merged: dict[int, float] = {}
    for term, weight in weights.items():
        index = term_index(term)
        merged[index] = merged.get(index, 0.0) + weight
    indices = sorted(merged)
    return SparseVector(indices, [merged[i] for i in indices])


def bm25_sparse(counts: Mapping[str, int], k1: float, b: float, avgdl: float) -> SparseVector:
    """A document's sparse BM25 vector from its token counts (IDF is applied by Qdrant)."""
    length = sum(counts.values())
    norm = k1 * (1.0 - b + b * length / avgdl) if avgdl > 0 else k1 * (1.0 - b)
    return _merge({term: tf / (tf + norm) for term, tf in counts.items()})


def query_sparse(tokens: Sequence[str]) -> SparseVector:
    """A query's sparse vector: each token's count (Qdrant multiplies it by the IDF)."""
    return _merge({term: float(n) for term, n in Counter(tokens).items()})


class QdrantHybrid:
    """Both halves of hybrid search on one :class:`QdrantIndex` whose collection has the
    ``bm25`` sparse vector. ``doc_key`` is the payload key naming each point's document (a
    document embedded in chunks has several points, scored as its best one)."""

    def __init__(self, index: QdrantIndex, doc_key: str = ID_PAYLOAD_KEY) -> None:
        if not index.supports_sparse:
            raise ValueError(f"Qdrant collection {index.config.collection!r} has no "
                             f"{SPARSE_VECTOR!r} sparse vector (created by an older Nyx); "
                             "rebuild the index to serve BM25 from Qdrant")
        self.index = index
        self.doc_key = doc_key
        self.models = _models()

    @property
    def _client(self) -> Any:
        return self.index.client

    @property
    def _name(self) -> str:
        return str(self.index.config.collection)

    # -- writing ----------------------------------------------------------------------------

    def write_sparse(self, point_ids: Sequence[str], vectors: Sequence[SparseVector],
                     avgdl: float) -> None:
        """Set the ``bm25`` vector of these points (Nyx vector ids), keeping their dense one."""
        m = self.models
        size = self.index.config.batch_size
        for start in range(0, len(point_ids), size):
            points = [m.PointVectors(id=point_id(pid), vector={SPARSE_VECTOR: m.SparseVector(
                indices=v.indices, values=v.values)})
                for pid, v in zip(point_ids[start:start + size], vectors[start:start + size])]
            self._client.update_vectors(self._name, points=points, wait=True)
        self.index.sparse_avgdl = avgdl

    # -- exact: rankings and missing scores from Qdrant, fused by the caller ----------------

    def candidates(self, vector: np.ndarray, query: SparseVector, n: int,
                   flt: Filter | None) -> tuple[dict[str, float], dict[str, float]]:
        """The top ``n`` documents of each ranking: (dense, bm25) as id -> score."""
        qfilter = to_qdrant_filter(flt)
        dense = self._best_per_doc(vector, n, qfilter)
        lexical: dict[str, float] = {}
        if query.indices:
            hits = self._client.query_points(
                self._name, query=self._sparse(query), using=SPARSE_VECTOR, limit=n,
                query_filter=qfilter, with_payload=[self.doc_key, ID_PAYLOAD_KEY]).points
            lexical = {self._doc(p): float(p.score) for p in hits if p.score > 0}
        return dense, lexical

    def scores(self, vector: np.ndarray, query: SparseVector, dense_ids: Sequence[str],
               lexical_ids: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
        """Dense scores of ``dense_ids`` and BM25 scores of ``lexical_ids`` (0 when the
        document shares no term with the query), looked up in Qdrant."""
        dense: dict[str, float] = {}
        if dense_ids:
            dense = self._best_per_doc(vector, len(dense_ids), self._docs(dense_ids))
        lexical = dict.fromkeys(lexical_ids, 0.0)
        if lexical_ids and query.indices:
            hits = self._client.query_points(
                self._name, query=self._sparse(query), using=SPARSE_VECTOR,
                limit=len(lexical_ids), query_filter=self._docs(lexical_ids),
                with_payload=[self.doc_key, ID_PAYLOAD_KEY]).points
            lexical.update({self._doc(p): float(p.score) for p in hits})
        return dense, lexical

    # -- fusion in Qdrant --------------------------------------------------------------------

    def fuse(self, vector: np.ndarray, query: SparseVector, k: int, n: int,
             flt: Filter | None, method: str, *, dense_weight: float = 0.5, rrf_k: int = 60,
             adapt: Callable[[np.ndarray, np.ndarray], float] | None = None,
             ) -> list[tuple[str, float]]:
        """The top ``k`` documents fused inside Qdrant from the top ``n`` of each ranking.

        ``adapt`` (``formula`` only) gives the query's dense weight from the two rankings'
        scores (dense, bm25), as Nyx's ``adaptive`` fusion does; without it ``dense_weight``.
        """
        m = self.models
        qfilter = to_qdrant_filter(flt)
        prefetch = [m.Prefetch(query=vector.tolist(), limit=n, filter=qfilter)]
        if query.indices:
            prefetch.append(m.Prefetch(query=self._sparse(query), using=SPARSE_VECTOR,
                                       limit=n, filter=qfilter))
        if method == "rrf":
            # Nyx's weighted RRF at w = 0.5 is plain RRF, Qdrant's at weight 1.
            weights = [2 * dense_weight, 2 * (1.0 - dense_weight)][:len(prefetch)]
            fusion: Any = m.RrfQuery(rrf=m.Rrf(k=rrf_k, weights=weights))
        elif method == "dbsf":
            fusion = m.FusionQuery(fusion=m.Fusion.DBSF)
        elif method == "formula":
            fusion, union = self._formula(vector, query, n, flt, dense_weight, adapt)
            if fusion is None:
                return []
            # Rescore exactly the two lists' union: every candidate gets both its scores.
            within = self._docs(union)
            prefetch = [m.Prefetch(query=p.query, using=p.using, limit=4 * len(union),
                                   filter=within) for p in prefetch]
        else:
            raise ValueError(f"unknown Qdrant fusion {method!r}: use one of "
                             f"{', '.join(SERVER_FUSIONS)}")
        points = self._client.query_points(
            self._name, prefetch=prefetch, query=fusion, limit=max(k, n),
            with_payload=[self.doc_key, ID_PAYLOAD_KEY]).points
        best: dict[str, float] = {}
        for p in points:  # a chunked document ranks as its best point
            best.setdefault(self._doc(p), float(p.score))
        return list(best.items())[:k]

    def _formula(self, vector: np.ndarray, query: SparseVector, n: int, flt: Filter | None,
                 dense_weight: float,
                 adapt: Callable[[np.ndarray, np.ndarray], float] | None,
                 ) -> tuple[Any, list[str]]:
        """A min-max mix as a linear formula over the two prefetch scores: min-max scaling is
        affine, so ``w * minmax(d) + (1 - w) * minmax(s)`` ranks like ``a * d + b * s``."""
        m = self.models
        dense, lexical = self.candidates(vector, query, n, flt)
        if not dense and not lexical:
            return None, []
        d = np.array(list(dense.values()) or [0.0])
        s = np.array(list(lexical.values()) or [0.0])
        w = adapt(d, s) if adapt is not None else dense_weight
        union_has_dense_only = bool(set(dense) - set(lexical))
        s_low = 0.0 if union_has_dense_only or not lexical else float(s.min())
        d_low = float(d.min())
        a = w / (float(d.max()) - d_low) if d.max() - d_low > 1e-12 else 0.0
        b = (1.0 - w) / (float(s.max()) - s_low) if s.max() - s_low > 1e-12 else (
            (1.0 - w) / float(s.max()) if s.max() > 0 else 0.0)
        formula = m.SumExpression(sum=[m.MultExpression(mult=[a, "$score[0]"]),
                                       m.MultExpression(mult=[b, "$score[1]"])])
        union = list(dict.fromkeys([*dense, *lexical]))
        return m.FormulaQuery(formula=formula,
                              defaults={"$score[0]": d_low, "$score[1]": 0.0}), union

    # -- helpers ------------------------------------------------------------------------------

    def _best_per_doc(self, vector: np.ndarray, n: int, qfilter: Any) -> dict[str, float]:
        groups = self._client.query_points_groups(
            self._name, query=vector.tolist(), group_by=self.doc_key, limit=n, group_size=1,
            query_filter=qfilter, with_payload=False).groups
        return {str(g.id): float(g.hits[0].score) for g in groups}

    def _docs(self, ids: Sequence[str]) -> Any:
        m = self.models
        return m.Filter(must=[m.FieldCondition(key=self.doc_key,
                                               match=m.MatchAny(any=list(ids)))])

    def _doc(self, point: Any) -> str:
        payload = point.payload or {}
        return str(payload.get(self.doc_key, payload.get(ID_PAYLOAD_KEY)))

    def _sparse(self, vector: SparseVector) -> Any:
        return self.models.SparseVector(indices=vector.indices, values=vector.values)


def _models() -> Any:
    from qdrant_client import models

    return models
