"""Aggregation of answers (votes, selection, fusion) and of ranked lists (RRF, CombMNZ...)."""

from __future__ import annotations

from nyx.ensemble.aggregation.aggregators import (
    Aggregator,
    EntropyVote,
    GenerativeFusion,
    MajorityVote,
    Selection,
)
from nyx.ensemble.aggregation.answers import (
    Vote,
    answer_weights,
    entropy_weighted_vote,
    majority_vote,
    weighted_vote,
)
from nyx.ensemble.aggregation.selector import LearnedSelector
from nyx.fusion import (
    comb_mnz,
    comb_sum,
    entropy_weighted_fusion,
    fuse,
    minmax,
    normalized_score_entropy,
    reciprocal_rank_fusion,
)

__all__ = ["Aggregator", "EntropyVote", "GenerativeFusion", "LearnedSelector", "MajorityVote",
           "Selection", "Vote",
           "answer_weights", "comb_mnz", "comb_sum", "entropy_weighted_fusion",
           "entropy_weighted_vote", "fuse", "majority_vote", "minmax",
           "normalized_score_entropy", "reciprocal_rank_fusion", "weighted_vote"]
