"""An absolute relevance estimate for a search hit: the probability that the passage answers a
text query, from raw scores that mean the same across queries and collections.

The fused score of a hybrid search ranks the hits of one query (it is min-max normalised per
query: the best hit of any query scores near 1, however poor). ``SearchResult.relevance`` can
be thresholded instead (``min_score``): a logistic model of the raw dense cosine (nyx-lite's
MiniLM text vectors) and of the share of the query's BM25 ceiling the passage reaches
(:meth:`nyx.indexes.LexicalIndex.score_ceiling`), or of the cross-encoder's logit for a reranked
hit. The weights were fitted by ``python -m nyx.benchmarks.relevance`` on SQuAD-dev questions
only and checked on SQuADShifts Amazon reviews and New-Wiki (README: "Scores you can
threshold").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from nyx.encoders.spec import EncoderSpec

__all__ = ["DEFAULT_MIN_RELEVANCE", "Calibration", "calibration_for", "estimate"]


@dataclass(frozen=True)
class Calibration:
    """``P(relevant) = sigmoid(bias + dense * cosine + share * bm25_share + logit * ce)``."""

    bias: float
    dense: float = 0.0
    share: float = 0.0
    logit: float = 0.0

    def __call__(self, *, dense: float = 0.0, share: float = 0.0, logit: float = 0.0) -> float:
        z = self.bias + self.dense * dense + self.share * share + self.logit * logit
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


#: ``python -m nyx.benchmarks.relevance --queries 200 --off-topic 100``: fitted on SQuAD-dev
#: only, its 200 questions' gold passages against the top-10 hits of 100 New-Wiki questions
#: searched in SQuAD-dev's passages (queries about nothing there). Telling them apart, AUC 0.99
#: on the held-out New-Wiki and Amazon domains (benchmarks/results/relevance.md). The rerank
#: model was fitted again (2026-12-08) when the cross-encoder began reading a long passage around
#: the query (``passage_window="focus"``): bias -0.0822 -> -0.2093, logit 0.6682 -> 0.6920; the
#: others reproduced to the last digit.
_NYX_LITE = {
    "hybrid": Calibration(bias=-11.2426, dense=13.6536, share=12.3361),
    "dense": Calibration(bias=-9.2701, dense=18.9850),
    "rerank": Calibration(bias=-0.2093, logit=0.6920),
}
#: BM25 alone depends on the analyzer, not on the encoder
_LEXICAL = Calibration(bias=-7.3271, share=16.6565)

#: ``nyx-index search`` drops hits whose relevance is below this unless ``--min-score`` says
#: otherwise: "more likely relevant than not". On SQuAD-dev (where it was chosen, as the
#: largest cut keeping >= 90% of gold top hits) it keeps 91% of them and silences 79% of
#: off-topic questions; held out, 89% / 95% on New-Wiki and 79% / 100% on Amazon reviews.
DEFAULT_MIN_RELEVANCE = 0.5


def estimate(encoder: str | None, mode: str, *, dense: float = 0.0, share: float = 0.0,
             logit: float = 0.0, has_text: bool = True) -> float | None:
    """The relevance of one hit of a text query searched in ``mode`` (``"rerank"`` for a
    reranked hit, scored by ``logit``); ``None`` where no model was fitted.

    A hybrid hit gets the larger of the both-scores and the dense-alone estimates, so that a
    paraphrase sharing no word with its passage is judged by its meaning: SQuAD's questions
    reuse their passage's words, so the both-scores model alone learned that no shared word
    means no answer. A hit without text is judged by its dense score alone."""
    if mode == "hybrid" and not has_text:
        mode = "dense"
    model = calibration_for(encoder, mode)
    if model is None:
        return None
    value = model(dense=dense, share=share, logit=logit)
    if mode == "hybrid":
        alone = calibration_for(encoder, "dense")
        value = max(value, alone(dense=dense)) if alone is not None else value
    return value


@lru_cache(maxsize=256)  # parsing the spec for every hit cost more than the estimate
def calibration_for(encoder: str | None, mode: str) -> Calibration | None:
    """The model for hits of a text search in ``mode`` (``hybrid``, ``dense``, ``lexical`` or
    ``rerank``) with the encoder named ``encoder``; ``None`` where none was fitted (another
    encoder's cosines mean other things)."""
    if mode == "lexical":
        return _LEXICAL
    if mode == "rerank":
        return _NYX_LITE["rerank"]
    try:
        family = EncoderSpec.parse(encoder).family if encoder else None
    except ValueError:  # a custom encoder's name: no calibration was fitted for it
        family = None
    return _NYX_LITE.get(mode) if family == "nyx-lite" else None
