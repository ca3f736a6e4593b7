"""Vectorised hybrid fusion over precomputed candidate scores, for cheap grid searches.

:func:`candidate_scores` computes, once, every query's dense and BM25 score for the union of
its top-``C`` dense and top-``C`` lexical documents - exactly the candidate set
``Retriever.search(mode="hybrid")`` fuses (dense = best chunk, lexical = Nyx's ``LexicalIndex``).
:func:`fuse` then ranks all queries at once for one (normalisation, weight, candidates) point,
and :func:`ranking_metrics` scores the ranking, so a grid of hundreds of points takes seconds.

Normalisations (each over one query's candidate set, as Nyx's ``minmax`` is):

``minmax``  ``(s - min) / (max - min)`` (:func:`nyx.fusion.minmax`)
``zscore``  ``(s - mean) / std``; a constant list maps to 0
``max``     ``s / max`` (BM25 and cosine scores are >= 0 at the top)
``rrf``     standard RRF: ``1 / (60 + rank)`` from each list a document is in, 0 from the other
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from nyx.fusion import minmax, zscore

logger = logging.getLogger(__name__)

__all__ = ["NORMALISATIONS", "CandidateScores", "candidate_scores", "fuse", "ranking_metrics"]

NORMALISATIONS: tuple[str, ...] = ("minmax", "zscore", "max", "rrf")
RRF_K = 60
_NEVER = np.iinfo(np.int32).max


@dataclass
class CandidateScores:
    """Per query (rows), the candidate documents (columns) with both of their scores."""

    docs: np.ndarray  # (Q, C) int doc indices, -1 = padding
    dense: np.ndarray  # (Q, C) float64
    lexical: np.ndarray  # (Q, C) float64 (0 where the doc shares no token with the query)
    dense_rank: np.ndarray  # (Q, C) 0-based rank in the dense list
    lexical_rank: np.ndarray  # (Q, C) 0-based rank in the lexical list, _NEVER if score 0

    def rows(self, selection: slice | np.ndarray) -> CandidateScores:
        return CandidateScores(self.docs[selection], self.dense[selection],
                               self.lexical[selection], self.dense_rank[selection],
                               self.lexical_rank[selection])

    def mask(self, candidates: int) -> np.ndarray:
        """Which columns are candidates when each list contributes its top ``candidates``."""
        return (self.docs >= 0) & ((self.dense_rank < candidates)
                                   | (self.lexical_rank < candidates))


def _ranks(scores: np.ndarray, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """0-based descending rank of every column, per row (ties: higher ``tiebreak`` first,
    then lower column)."""
    if tiebreak is None:
        order = np.argsort(-scores, axis=1, kind="stable")
    else:
        order = np.lexsort((-tiebreak, -scores), axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :], axis=1)
    return ranks


def candidate_scores(dense_full: np.ndarray, lexical_full: np.ndarray,
                     max_candidates: int) -> CandidateScores:
    """Candidates from full score matrices ``(Q, n_docs)``: top ``max_candidates`` of each."""
    if dense_full.shape != lexical_full.shape:
        raise ValueError(f"score matrices differ in shape: {dense_full.shape} vs "
                         f"{lexical_full.shape}")
    n_queries, n_docs = dense_full.shape
    c = min(max_candidates, n_docs)
    dense_rank_full = _ranks(dense_full)
    lexical_rank_full = np.where(lexical_full > 0, _ranks(lexical_full), _NEVER)
    width = 2 * c
    docs = np.full((n_queries, width), -1, dtype=np.int64)
    for q in range(n_queries):
        chosen = np.flatnonzero((dense_rank_full[q] < c) | (lexical_rank_full[q] < c))
        docs[q, : chosen.size] = chosen
    safe = np.maximum(docs, 0)
    take = lambda m: np.take_along_axis(m, safe, axis=1)  # noqa: E731
    return CandidateScores(docs, take(dense_full).astype(np.float64),
                           take(lexical_full).astype(np.float64), take(dense_rank_full),
                           take(lexical_rank_full))


def _normalise(scores: np.ndarray, mask: np.ndarray, method: str,
               tiebreak: np.ndarray | None = None) -> np.ndarray:
    if method == "minmax":
        return minmax(scores, mask)
    if method == "zscore":
        return zscore(scores, mask)
    high = np.where(mask, scores, -np.inf).max(axis=1, keepdims=True)
    if method == "max":
        return scores / np.where(np.abs(high) < 1e-12, 1.0, np.abs(high))
    if method == "rrf":
        # Nyx lists dense candidates first, in dense order: equal lexical scores (usually 0)
        # therefore rank by dense score.
        ranks = _ranks(np.where(mask, scores, -np.inf), tiebreak)
        return 1.0 / (RRF_K + ranks + 1)
    raise ValueError(f"unknown normalisation {method!r}; use one of {NORMALISATIONS}")


def fuse(scores: CandidateScores, weight: float, candidates: int,
         method: str = "minmax") -> np.ndarray:
    """Column order per row, best first: ``weight * dense' + (1 - weight) * lexical'``.

    Ties break on the raw dense score, as ``nyx.hybrid.fuse_scores`` does; non-candidate
    columns sort last (their fused score is ``-inf``).
    """
    mask = scores.mask(candidates)
    if method == "rrf":  # standard RRF: a list a document is not in gives it nothing
        dense = np.where(mask & (scores.dense_rank < candidates),
                         1.0 / (RRF_K + scores.dense_rank + 1), 0.0)
        lexical = np.where(mask & (scores.lexical_rank < candidates),
                           1.0 / (RRF_K + np.minimum(scores.lexical_rank, candidates) + 1), 0.0)
        fused = 2 * weight * dense + 2 * (1.0 - weight) * lexical
    else:
        fused = (weight * _normalise(scores.dense, mask, method)
                 + (1.0 - weight) * _normalise(scores.lexical, mask, method, scores.dense))
    fused = np.where(mask, fused, -np.inf)
    return np.lexsort((-scores.dense, -fused), axis=1)


def ranking_metrics(order: np.ndarray, gains: np.ndarray, ideal_dcg10: np.ndarray,
                    n_relevant: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """Mean nDCG@10, R@1, R@5, R@20 and MRR@10 of column orders (``gains``: (Q, C) grades).

    ``valid`` (Q, C) marks real candidates; padding never earns gain.
    """
    ranked_gains = np.take_along_axis(np.where(valid, gains, 0.0), order, axis=1)
    top10 = ranked_gains[:, :10]
    discounts = 1.0 / np.log2(np.arange(2, top10.shape[1] + 2))
    ndcg = (top10 * discounts).sum(axis=1) / np.where(ideal_dcg10 > 0, ideal_dcg10, 1.0)
    hits = ranked_gains > 0
    first = np.where(hits[:, :10].any(axis=1), hits[:, :10].argmax(axis=1) + 1, 0)
    mrr = np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)
    recall = {k: hits[:, :k].sum(axis=1) / np.maximum(n_relevant, 1) for k in (1, 5, 20)}
    return {"ndcg@10": float(ndcg.mean()), "recall@1": float(recall[1].mean()),
            "recall@5": float(recall[5].mean()), "recall@20": float(recall[20].mean()),
            "mrr@10": float(mrr.mean())}
