"""Fusing dense and lexical rankings of one query into one.

Methods (``HybridConfig.method``), each over the query's candidate set (the top
``candidates`` of each ranking):

``minmax``    ``w * minmax(dense) + (1 - w) * minmax(bm25)``: a convex mix of per-query min-max
              normalised scores.
``adaptive``  the same mix with a per-query weight ``clip(w + alpha * (c_dense - c_bm25))``, where
              ``c`` is how decided each ranking is: the gap between its first and second score
              relative to the spread of its top ten, in [0, 1]. A ranking with one clear winner
              gets more say; a flat one less. Needs no training data beyond ``w`` and ``alpha``.
``zscore``    a convex mix of per-query z-scores.
``rrf``       reciprocal rank fusion (Cormack et al. 2009), standard form: a document earns
              ``1 / (rrf_k + rank)`` from each ranking it appears in and nothing from a ranking
              it is absent from; ``w`` weights the two rankings (0.5 = plain RRF).

The default was chosen by leave-one-domain-out over four question -> passage domains
(``nyx-bench fusion-domains``; numbers in the README), not on one data set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from nyx.fusion import minmax, rrf_scores, zscore

__all__ = ["DEFAULT_ALPHA", "DEFAULT_DENSE_WEIGHT", "DEFAULT_TEXTLESS", "FUSION_METHODS",
           "HybridConfig", "MissingScores", "confidence", "fuse_candidates", "fuse_scores"]

#: ``(dense_missing, lexical_missing) -> (dense scores, BM25 scores)`` of candidates one
#: ranking did not retrieve, looked up by the candidate source
MissingScores = Callable[[list[str], list[str]], tuple[dict[str, float], dict[str, float]]]

FUSION_METHODS: tuple[str, ...] = ("minmax", "adaptive", "zscore", "rrf")
#: Chosen by ``nyx-bench fusion-domains`` (benchmarks/results/fusion-domains.md): of minmax,
#: z-score, RRF, query-adaptive and dense-rescoring, ``adaptive`` had the best held-out nDCG@10
#: averaged over four domains left out one at a time (0.755; BM25 at its best 0.727, dense
#: 0.613, the previous default minmax 0.6 0.743); its parameters were then fitted on all four.
DEFAULT_DENSE_WEIGHT = 0.45
#: How far each ranking's confidence moves the weight (method ``adaptive``).
DEFAULT_ALPHA = 0.25
DEFAULT_METHOD = "adaptive"
#: Chosen by ``python -m nyx.benchmarks.mixed_modality`` on SQuAD-dev passages + held-out
#: OpenClipart drawings, as the largest share that cost text questions nothing there
#: (image-intent nDCG@10 0.049 -> 0.084); checked on two other pairs (README).
DEFAULT_TEXTLESS = 0.75


@dataclass
class HybridConfig:
    """How text queries fuse dense and lexical rankings."""

    #: weight of the dense score; the lexical score gets ``1 - dense_weight``.
    dense_weight: float = DEFAULT_DENSE_WEIGHT
    #: candidates taken from each ranking before fusing (at least k).
    candidates: int = 100
    #: one of :data:`FUSION_METHODS`
    method: str = DEFAULT_METHOD
    rrf_k: int = 60
    #: ``adaptive`` only: how much each ranking's confidence shifts the weight
    alpha: float = DEFAULT_ALPHA
    #: documents without any text (an image nothing was read from) cannot match a word, so a
    #: lexical 0 is no evidence against them: this share of their lexical half is filled by
    #: their dense score (0: none; 1: scored by the dense half alone)
    textless: float = DEFAULT_TEXTLESS

    def __post_init__(self) -> None:
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be within [0, 1], got {self.dense_weight}")
        if self.method not in FUSION_METHODS:
            raise ValueError(f"unknown fusion method {self.method!r}: use one of "
                             f"{', '.join(FUSION_METHODS)}")
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {self.candidates}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if isinstance(self.textless, bool) or not 0.0 <= self.textless <= 1.0:
            raise ValueError(f"textless must be within [0, 1], got {self.textless!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def confidence(scores: np.ndarray) -> float:
    """How decided a ranking is: ``(s1 - s2) / (s1 - mean(top 10))`` in [0, 1]; 0 for an
    empty or flat ranking, 1 for a single candidate."""
    top = np.sort(np.asarray(scores, dtype=np.float64))[::-1][:10]
    if top.size == 0:
        return 0.0
    second = top[1] if top.size > 1 else top[0]
    spread = top[0] - top.mean()
    if spread <= 1e-12:
        return 1.0 if top.size == 1 and top[0] > 0 else 0.0
    return float((top[0] - second) / spread)


def fuse_scores(ids: Sequence[str], dense: np.ndarray, lexical: np.ndarray,
                config: HybridConfig, *, in_dense: np.ndarray | None = None,
                in_lexical: np.ndarray | None = None,
                has_text: np.ndarray | None = None) -> list[tuple[str, float]]:
    """Fused ``(id, score)`` pairs, best first, for candidates with both scores known.

    ``in_dense`` / ``in_lexical`` mark which candidates each ranking retrieved itself (the
    others had their score looked up); by default every candidate is in the dense ranking and
    those with a positive BM25 score in the lexical one. ``has_text`` marks the candidates with
    searchable text; the lexical half of the others is ``config.textless`` times their
    normalised dense score. Ties break on the dense score, then the id.
    """
    dense = np.asarray(dense, dtype=np.float64)
    lexical = np.asarray(lexical, dtype=np.float64)
    in_dense = np.ones(len(ids), bool) if in_dense is None else np.asarray(in_dense, bool)
    in_lexical = lexical > 0 if in_lexical is None else np.asarray(in_lexical, bool) & (
        lexical > 0)
    w = config.dense_weight
    textless = (np.zeros(len(ids), bool) if has_text is None or not config.textless
                else ~np.asarray(has_text, bool))
    share = config.textless
    if config.method == "rrf":
        d, lx = rrf_scores(dense, in_dense, config.rrf_k), rrf_scores(lexical, in_lexical,
                                                                      config.rrf_k)
        fused = 2 * w * d + 2 * (1.0 - w) * np.where(textless, share * d, lx)
    elif config.method == "zscore":
        d = zscore(dense)
        fused = w * d + (1.0 - w) * np.where(textless, share * d, zscore(lexical))
    else:
        if config.method == "adaptive" and len(ids):
            gap = confidence(dense[in_dense]) - confidence(lexical[in_lexical])
            w = min(1.0, max(0.0, w + config.alpha * gap))
        d = minmax(dense)
        fused = w * d + (1.0 - w) * np.where(textless, share * d, minmax(lexical))
    # best fused score first, ties by dense score, then by id (lexsort: last key first); the
    # ids are compared only where two candidates tie on both scores
    order = np.lexsort((-dense, -fused))
    if np.any((np.diff(fused[order]) == 0) & (np.diff(dense[order]) == 0)):
        order = np.lexsort((np.array(ids, dtype=str), -dense, -fused))
    scores = fused[order].tolist()
    return [(ids[i], score) for i, score in zip(order.tolist(), scores)]


def fuse_candidates(dense: dict[str, float], lexical: dict[str, float],
                    missing_scores: MissingScores, config: HybridConfig,
                    has_text: Callable[[list[str]], np.ndarray] | None = None
                    ) -> list[tuple[str, float]]:
    """The one fusion tail of every hybrid search, whichever backend ranked the candidates.

    ``dense`` and ``lexical`` are each ranking's own hits (id -> score); the union is the
    candidate set; ``missing_scores`` looks up the score a ranking did not deliver (and the
    dicts are completed in place, so the caller sees every score). ``has_text`` tells which
    candidates have searchable text (needed only when ``config.textless`` is set). A score
    that cannot be looked up (a document without vectors) counts as 0.
    """
    ids = list(dict.fromkeys([*dense, *lexical]))
    in_dense = np.array([i in dense for i in ids], dtype=bool)
    in_lexical = np.array([i in lexical for i in ids], dtype=bool)
    more_dense, more_lexical = missing_scores([i for i in ids if i not in dense],
                                              [i for i in ids if i not in lexical])
    dense.update(more_dense)
    lexical.update(more_lexical)
    text = has_text(ids) if has_text is not None and config.textless else None
    return fuse_scores(ids, np.array([dense.get(i, 0.0) for i in ids]),
                       np.array([lexical.get(i, 0.0) for i in ids]), config,
                       in_dense=in_dense, in_lexical=in_lexical, has_text=text)
