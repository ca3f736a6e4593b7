"""Fusing ranked lists: RRF, CombSUM, CombMNZ and entropy-weighted fusion.

A *run* is one system's ranking, best first, as ``[(doc_id, score), ...]`` (or bare ids for
RRF). Every function returns ``[(doc_id, fused_score), ...]`` sorted by fused score; equal
scores keep the order in which the documents were first seen (run by run, rank by rank), so
results are deterministic.

* RRF (Cormack et al., 2009): ``sum_r w_r / (k + rank_r(d))``, ranks from 1, ``k = 60``.
* CombSUM / CombMNZ (Fox & Shaw, 1994) over per-run min-max normalised scores; CombMNZ
  multiplies the sum by the number of runs that retrieved the document. A run whose scores are
  all equal normalises to 1.0 for each of its documents (each is that run's best).
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

__all__ = ["Run", "comb_mnz", "comb_sum", "entropy_weighted_fusion", "fuse", "minmax",
           "normalized_score_entropy", "reciprocal_rank_fusion"]

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


def minmax(run: Run) -> dict[str, float]:
    """Min-max normalise one run's scores into [0, 1] (all-equal scores become 1.0)."""
    if not run:
        return {}
    values = [s for _, s in run]
    low, high = min(values), max(values)
    if high == low:
        return {doc: 1.0 for doc, _ in run}
    return {doc: (s - low) / (high - low) for doc, s in run}


def _comb(runs: Sequence[Run], weights: list[float], mnz: bool) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    hits: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for run, w in zip(runs, weights):
        for doc, s in minmax(run).items():
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
