"""Fusing dense and lexical rankings: a convex combination of per-query normalised scores.

Plain reciprocal rank fusion (k=60) loses to BM25 alone on SQuAD-dev (nDCG@10 0.851 vs 0.874)
because it gives the weaker dense list equal say. Scores carry more information than ranks: each
list's scores are min-max normalised over the shared candidate set and mixed with a weight chosen
on data (see ``benchmarks/tune_hybrid.py`` and the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Share of the dense score, tuned on the first half of SQuAD-dev questions and checked on the
#: second half (``nyx-bench tune-hybrid``): nDCG@10 0.906 there, vs 0.902 at 0.4 and 0.875 BM25.
DEFAULT_DENSE_WEIGHT = 0.6


@dataclass
class HybridConfig:
    """How text queries fuse dense and lexical rankings."""

    #: weight of the dense score; the lexical score gets ``1 - dense_weight``.
    dense_weight: float = DEFAULT_DENSE_WEIGHT
    #: candidates taken from each ranking before fusing (at least k).
    candidates: int = 100
    #: "minmax" (per-query min-max) or "rrf" (reciprocal rank fusion, for comparison).
    method: str = "minmax"
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be within [0, 1], got {self.dense_weight}")
        if self.method not in ("minmax", "rrf"):
            raise ValueError(f"unknown fusion method {self.method!r}: use 'minmax' or 'rrf'")
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {self.candidates}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]. A constant list carries no preference and maps to zeros, so that a
    ranking with no signal (no query word in any candidate) adds nothing to the fusion."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-12:
        return np.zeros_like(scores)
    return (scores - low) / (high - low)


def fuse_scores(ids: Sequence[str], dense: np.ndarray, lexical: np.ndarray,
                config: HybridConfig) -> list[tuple[str, float]]:
    """Fused ``(id, score)`` pairs, best first, for candidates with both scores known."""
    dense = np.asarray(dense, dtype=np.float64)
    lexical = np.asarray(lexical, dtype=np.float64)
    if config.method == "rrf":
        fused = _rrf(dense, config.rrf_k) + _rrf(lexical, config.rrf_k)
    else:
        w = config.dense_weight
        fused = w * minmax(dense) + (1.0 - w) * minmax(lexical)
    order = sorted(range(len(ids)), key=lambda i: (-fused[i], -dense[i], ids[i]))
    return [(ids[i], float(fused[i])) for i in order]


def _rrf(scores: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return 1.0 / (k + ranks)
