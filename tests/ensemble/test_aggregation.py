"""Exact checks of the answer-vote and ranked-list fusion math against hand computations."""

from __future__ import annotations

import math

import pytest

from nyx.ensemble.aggregation import (
    EntropyVote,
    MajorityVote,
    answer_weights,
    comb_mnz,
    comb_sum,
    entropy_weighted_fusion,
    entropy_weighted_vote,
    fuse,
    majority_vote,
    minmax,
    normalized_score_entropy,
    reciprocal_rank_fusion,
    weighted_vote,
)
from nyx.ensemble.types import Answer


def test_majority_vote_groups_squad_normalised_answers():
    vote = majority_vote(["The Denver Broncos.", "Carolina", "denver broncos", "Carolina"])
    # {"denver broncos": 2 (first at 0), "carolina": 2 (first at 1)} -> tie -> earliest group
    assert vote.answer == "The Denver Broncos."
    assert vote.index == 0
    assert vote.groups == {"denver broncos": 2.0, "carolina": 2.0}
    assert vote.members == {"denver broncos": [0, 2], "carolina": [1, 3]}
    assert vote.share == pytest.approx(0.5)
    assert vote.entropy == pytest.approx(math.log(2))


def test_majority_vote_tie_break_is_first_occurrence_not_dict_luck():
    assert majority_vote(["y", "x", "x", "y"]).answer == "y"
    assert majority_vote(["x", "y", "y", "x"]).answer == "x"
    assert majority_vote(["x", "y", "z"]).index == 0


def test_empty_answers_never_win_unless_all_are_empty():
    assert majority_vote(["", "the", "", "Paris"]).answer == "Paris"
    vote = majority_vote(["", "The"])
    assert vote.index == 0 and vote.key == ""


def test_unanimous_vote_has_zero_entropy():
    vote = majority_vote(["Paris", "paris", "PARIS!"])
    assert vote.share == 1.0 and vote.entropy == 0.0


def test_entropy_weights_exp_minus_h_over_tau():
    assert answer_weights([0.0, 1.0, 2.0], tau=1.0) == pytest.approx(
        [1.0, math.exp(-1), math.exp(-2)])
    assert answer_weights([1.0, 3.0], tau=2.0) == pytest.approx([math.exp(-0.5), math.exp(-1.5)])
    # a missing H gets the mean of the known ones: (1 + 3) / 2 = 2
    assert answer_weights([1.0, None, 3.0]) == pytest.approx(
        [math.exp(-1), math.exp(-2), math.exp(-3)])
    assert answer_weights([None, None]) == [1.0, 1.0]
    with pytest.raises(ValueError, match="tau"):
        answer_weights([1.0], tau=0)


def test_entropy_vote_sums_equivalent_answers_before_comparing():
    # "Paris" twice with H=2 -> 2e^-2 = 0.2707; "Lyon" once with H=0.5 -> e^-0.5 = 0.6065
    vote = entropy_weighted_vote(["Paris", "Lyon", "paris."], [2.0, 0.5, 2.0], tau=1.0)
    assert vote.answer == "Lyon"
    assert vote.groups["paris"] == pytest.approx(2 * math.exp(-2))
    # a larger tau flattens the weights: 2e^-0.4 = 1.3406 > e^-0.1 = 0.9048
    vote = entropy_weighted_vote(["Paris", "Lyon", "paris."], [2.0, 0.5, 2.0], tau=5.0)
    assert vote.answer == "Paris"
    assert vote.share == pytest.approx(2 * math.exp(-0.4) / (2 * math.exp(-0.4) + math.exp(-0.1)))


def test_weighted_vote_rejects_bad_weights():
    with pytest.raises(ValueError, match="weights"):
        weighted_vote(["a"], [1.0, 2.0])
    with pytest.raises(ValueError, match=">= 0"):
        weighted_vote(["a", "b"], [1.0, -1.0])
    with pytest.raises(ValueError, match="zero answers"):
        weighted_vote([], [])


def _answer(text, entropies, system):
    return Answer("q", text, token_entropies=entropies,
                  token_logprobs=[-e for e in entropies], system=system)


def test_answer_aggregators_report_confidence():
    answers = [_answer("Paris", [2.0, 2.0], "a"), _answer("Lyon", [0.5], "b"),
               _answer("paris", [2.0], "c")]
    majority = MajorityVote().aggregate("q", answers)
    assert majority.text == "Paris" and majority.confidence == pytest.approx(2 / 3)
    assert majority.metadata["chosen_system"] == "a"
    weighted = EntropyVote(tau=1.0).aggregate("q", answers)
    assert weighted.text == "Lyon"
    assert weighted.metadata["uncertainties"] == [2.0, 0.5, 2.0]
    by_nll = EntropyVote(tau=1.0, measure="nll").aggregate("q", answers)
    assert by_nll.text == "Lyon"  # mean NLL equals the entropies here
    with pytest.raises(ValueError, match="measure"):
        EntropyVote(measure="variance")


def test_rrf_against_hand_computed_scores():
    runs = [["a", "b", "c"], ["b", "d"], [("c", 9.0), ("a", 1.0)]]
    fused = dict(reciprocal_rank_fusion(runs, k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["d"] == pytest.approx(1 / 62)
    order = [doc for doc, _ in reciprocal_rank_fusion(runs, k=60)]
    # a == b (1/61+1/62 = 0.03252; a seen first) > c (1/61+1/63 = 0.03227) > d
    assert order == ["a", "b", "c", "d"]


def test_rrf_weights_and_repeated_ids():
    # "a" counts once per run; ranks are list positions, so "b" is at rank 3 in run 1
    fused = dict(reciprocal_rank_fusion([["a", "a", "b"], ["b"]], k=1, weights=[2.0, 1.0]))
    assert fused == pytest.approx({"a": 2 / 2, "b": 2 / 4 + 1 / 2})


def test_minmax_and_constant_runs():
    assert minmax([3.0, 1.0, 2.0]).tolist() == [1.0, 0.0, 0.5]
    assert minmax([5.0, 5.0]).tolist() == [1.0, 1.0]
    assert minmax([]).tolist() == []
    # A run without spread or evidence adds nothing to CombSUM: the same min-max as hybrid search.
    assert dict(comb_sum([[("a", 0.0), ("b", 0.0)], [("b", 2.0), ("c", 1.0)]])) == {
        "b": 1.0, "a": 0.0, "c": 0.0}


def _split(fused):
    return [d for d, _ in fused], [s for _, s in fused]


def test_combsum_and_combmnz_against_hand_computed_lists():
    run1 = [("a", 10.0), ("b", 6.0), ("c", 2.0)]   # -> a 1.0, b 0.5, c 0.0
    run2 = [("b", 0.9), ("c", 0.5), ("d", 0.1)]    # -> b 1.0, c 0.5, d 0.0
    ids, scores = _split(comb_sum([run1, run2]))
    assert ids == ["b", "a", "c", "d"] and scores == pytest.approx([1.5, 1.0, 0.5, 0.0])
    # CombMNZ: a 1.0 x 1, b 1.5 x 2, c 0.5 x 2, d 0 x 1; a and c tie at 1.0, a seen first
    ids, scores = _split(comb_mnz([run1, run2]))
    assert ids == ["b", "a", "c", "d"] and scores == pytest.approx([3.0, 1.0, 1.0, 0.0])
    ids, scores = _split(comb_sum([run1, run2], weights=[2.0, 1.0]))
    assert ids == ["a", "b", "c", "d"] and scores == pytest.approx([2.0, 2.0, 0.5, 0.0])


def test_combmnz_tie_order_is_first_seen():
    fused = comb_mnz([[("c", 1.0), ("a", 1.0)], [("a", 1.0), ("c", 1.0)]])
    assert fused == [("c", 4.0), ("a", 4.0)]


def test_score_entropy_and_entropy_weighted_fusion():
    assert normalized_score_entropy([("a", 1.0), ("b", 1.0)]) == pytest.approx(1.0)
    assert normalized_score_entropy([("a", 1.0)]) == 0.0
    sharp = [("x", 0.9), ("y", 0.1), ("z", 0.1), ("w", 0.1)]  # one document stands out
    flat = [("y", 4.0), ("x", 3.0), ("z", 2.0), ("w", 1.0)]   # evenly spread
    h_sharp, h_flat = normalized_score_entropy(sharp), normalized_score_entropy(flat)
    assert h_sharp < h_flat < 1.0
    fused = dict(entropy_weighted_fusion([sharp, flat], tau=1.0))
    assert fused["x"] == pytest.approx(math.exp(-h_sharp) * 1.0 + math.exp(-h_flat) * 2 / 3)
    assert fused["y"] == pytest.approx(math.exp(-h_sharp) * 0.0 + math.exp(-h_flat) * 1.0)
    assert next(iter(fused)) == "x"  # the sharp run decides


def test_score_entropy_measures_confidence_not_score_scale():
    # A cosine run with a clear winner (0.71 against 0.52 and below) must not look flat, and
    # multiplying BM25 scores by 10 must not make BM25 look sure: the softmax over raw scores
    # gave H = 0.998 for the first and dropped from 0.94 to 0.02 for the second.
    cosine = [("a", 0.71), ("b", 0.52), ("c", 0.50), ("d", 0.48), ("e", 0.47)]
    evenly = [("a", 0.71), ("b", 0.65), ("c", 0.59), ("d", 0.53), ("e", 0.47)]
    assert normalized_score_entropy(cosine) < 0.7 < normalized_score_entropy(evenly)
    bm25 = [("a", 12.0), ("b", 11.0), ("c", 10.5), ("d", 7.0), ("e", 6.0)]
    for scale, shift in ((10.0, 0.0), (0.01, 0.0), (1.0, -50.0), (3.0, 7.0)):
        moved = [(d, scale * s + shift) for d, s in bm25]
        assert normalized_score_entropy(moved) == pytest.approx(normalized_score_entropy(bm25))
    fused = dict(entropy_weighted_fusion([bm25, cosine]))
    scaled = dict(entropy_weighted_fusion([[(d, 10 * s) for d, s in bm25], cosine]))
    assert scaled == pytest.approx(fused)


def test_fuse_dispatch_and_errors():
    runs = [[("a", 1.0), ("b", 0.5)]]
    assert fuse(runs, "combsum") == comb_sum(runs)
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse(runs, "borda")
    with pytest.raises(ValueError, match="weights"):
        comb_sum(runs, weights=[1.0, 2.0])
