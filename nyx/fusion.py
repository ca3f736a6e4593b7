"""Score fusion, the one home of min-max, z-score, RRF, CombSUM/CombMNZ and entropy fusion.

Two shapes of input share the same normalisations: score arrays over one aligned candidate
list (:func:`minmax`, :func:`zscore`, :func:`rrf_scores`; the retriever's hybrid search in
:mod:`nyx.hybrid`) and ranked runs of ``(doc_id, score)`` from several systems (the functions
below; the ensemble's fused retriever).

A *run* is one system's ranking, best first, as ``[(doc_id, score), ...]`` (or bare ids for
RRF). Every function returns ``[(doc_id, fused_score), ...]`` sorted by fused score; equal
scores keep the order in which the documents were first seen (run by run, rank by rank), so
results are deterministic.

* RRF (Cormack et al., 2009): ``sum_r w_r / (k + rank_r(d))``, ranks from 1, ``k = 60``.
* CombSUM / CombMNZ (Fox & Shaw, 1994) over per-run min-max normalised scores; CombMNZ
  multiplies the sum by the number of runs that retrieved the document. A run whose scores are
  all equal has no spread: positive scores normalise to 1.0 (each is that run's best), zero or
  negative ones to 0.0 (no evidence), as :func:`minmax` does everywhere.
* Entropy-weighted fusion: like CombSUM, but a run counts ``exp(-H_r / tau)`` where ``H_r``
  is the entropy of ``softmax(z)`` divided by ``log(n)``, ``z`` the run's standardised scores
  ``(s - mean) / std`` (0 = one clear winner, 1 = flat), so runs whose best document stands out
  from the rest count more. Standardising makes ``H_r`` scale-free: it measures the shape of the
  score distribution, not the unit of the scores (a softmax over raw scores would make BM25,
  whose scores run to tens, look sure and cosine similarities, within 0..1, look flat).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["Run", "comb_mnz", "comb_sum", "entropy_weighted_fusion", "fuse", "minmax",
           "normalized_score_entropy", "reciprocal_rank_fusion", "rrf_scores", "zscore"]

Run = Sequence[tuple[str, float]]
FUSION_METHODS = ("rrf", "combsum", "combmnz", "entropy")
#: How entropy fusion measures a run's confidence; part of cache keys, so that results cached
#: under the earlier softmax over raw scores are not reused.
ENTROPY_CONFIDENCE = "softmax-of-standardised-scores"


def _ranked(scores: dict[str, float], first_seen: dict[str, int]) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda kv: (-kv[1], first_seen[kv[0]]))


def _weights(weights: Sequence[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0] * n
    if len(weights) != n:
        raise ValueError(f"got {len(weights)} weights for {n} runs")
    return [float(w) for w in weights]


def reciprocal_rank_fusion(runs: Sequence[Sequence[str] | Run], k: float = 60.0,
                           weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """RRF: each run adds ``w / (k + rank)`` to the documents it ranks (rank 1 = best)."""
    if k < 0:
        raise ValueError(f"the RRF constant k must be >= 0, got {k}")
    scores: dict[str, float] = {}
    first_seen: dict[str, int] = {}
    for run, w in zip(runs, _weights(weights, len(runs))):
        seen_here: set[str] = set()
        for rank, entry in enumerate(run, 1):
            doc = entry if isinstance(entry, str) else entry[0]
            if doc in seen_here:  # a document counts once per run, at its best rank
                continue
            seen_here.add(doc)
            first_seen.setdefault(doc, len(first_seen))
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
    return _ranked(scores, first_seen)


def minmax(scores: Sequence[float] | np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Scale to [0, 1] along the last axis (each row of a 2-D array on its own; ``valid``
    marks the entries that count). A constant list has no spread: it maps to 1 where the
    score is positive (one candidate, or every candidate matching equally: each is the best
    there is) and to 0 where it is not (no query word in any candidate: no evidence)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    mask = np.ones(scores.shape, bool) if valid is None else np.asarray(valid, bool)
    high = np.where(mask, scores, -np.inf).max(axis=-1, keepdims=True)
    low = np.where(mask, scores, np.inf).min(axis=-1, keepdims=True)
    flat = ~(high - low >= 1e-12)  # also rows with nothing valid (-inf - inf)
    spread = (scores - np.where(flat, 0.0, low)) / np.where(flat, 1.0, high - low)
    return np.where(flat, np.where(scores > 0, 1.0, 0.0), spread)


def zscore(scores: Sequence[float] | np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``(s - mean) / std`` along the last axis over the ``valid`` entries; all zeros for a
    list without spread."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    mask = np.ones(scores.shape, bool) if valid is None else np.asarray(valid, bool)
    count = np.maximum(mask.sum(axis=-1, keepdims=True), 1)
    mean = np.where(mask, scores, 0.0).sum(axis=-1, keepdims=True) / count
    std = np.sqrt((np.where(mask, scores - mean, 0.0) ** 2).sum(axis=-1, keepdims=True) / count)
    flat = std < 1e-12
    return np.where(flat, 0.0, (scores - mean) / np.where(flat, 1.0, std))


def rrf_scores(scores: np.ndarray, member: np.ndarray, k: float = 60.0) -> np.ndarray:
    """RRF over an aligned candidate list: ``1 / (k + rank)`` for the candidates the ranking
    retrieved (``member``; rank among members by score, 1 = best), 0 for the rest."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.zeros(len(scores), dtype=np.float64)
    idx = np.flatnonzero(member)
    order = idx[np.argsort(-scores[idx], kind="stable")]
    out[order] = 1.0 / (k + np.arange(1, order.size + 1))
    return out


def _normalized(run: Run) -> dict[str, float]:
    return dict(zip((doc for doc, _ in run), minmax([s for _, s in run]).tolist()))


def _comb(runs: Sequence[Run], weights: list[float], mnz: bool) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    hits: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for run, w in zip(runs, weights):
        for doc, s in _normalized(run).items():
            first_seen.setdefault(doc, len(first_seen))
            scores[doc] = scores.get(doc, 0.0) + w * s
            hits[doc] = hits.get(doc, 0) + 1
    if mnz:
        scores = {doc: s * hits[doc] for doc, s in scores.items()}
    return _ranked(scores, first_seen)


def comb_sum(runs: Sequence[Run], weights: Sequence[float] | None = None
             ) -> list[tuple[str, float]]:
    """CombSUM: the (weighted) sum of min-max normalised scores."""
    return _comb(runs, _weights(weights, len(runs)), mnz=False)


def comb_mnz(runs: Sequence[Run], weights: Sequence[float] | None = None
             ) -> list[tuple[str, float]]:
    """CombMNZ: CombSUM times the number of runs that retrieved the document."""
    return _comb(runs, _weights(weights, len(runs)), mnz=True)


def normalized_score_entropy(run: Run) -> float:
    """Entropy of ``softmax((s - mean) / std)`` over ``log(n)``: 0 for one clear winner, 1 for
    flat. The same for scores ``a * s + b`` (``a > 0``): it does not depend on the score scale.

    A run of fewer than two documents has entropy 0; a run of equal scores has entropy 1.
    """
    if len(run) < 2:
        return 0.0
    values = [float(s) for _, s in run]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    if std == 0 or not math.isfinite(std):
        return 1.0
    z = [(v - mean) / std for v in values]
    top = max(z)
    exps = [math.exp(x - top) for x in z]
    total = sum(exps)
    probs = [e / total for e in exps]
    entropy = -sum(p * math.log(p) for p in probs if p > 0)
    return min(1.0, entropy / math.log(len(run)))


def entropy_weighted_fusion(runs: Sequence[Run], tau: float = 1.0
                            ) -> list[tuple[str, float]]:
    """CombSUM where run ``r`` counts ``exp(-H_r / tau)`` (see the module docstring)."""
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    weights = [math.exp(-normalized_score_entropy(run) / tau) for run in runs]
    return _comb(runs, weights, mnz=False)


def fuse(runs: Sequence[Run], method: str = "rrf", *, rrf_k: float = 60.0, tau: float = 1.0,
         weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """Dispatch on ``method``: ``rrf``, ``combsum``, ``combmnz`` or ``entropy``."""
    if method == "rrf":
        return reciprocal_rank_fusion(runs, k=rrf_k, weights=weights)
    if method == "combsum":
        return comb_sum(runs, weights)
    if method == "combmnz":
        return comb_mnz(runs, weights)
    if method == "entropy":
        return entropy_weighted_fusion(runs, tau=tau)
    raise ValueError(f"unknown fusion method {method!r}; use one of {FUSION_METHODS}")
