"""Retrieval, answer and latency metrics against values worked out by hand."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from nyx.answer_metrics import (
    answer_contains,
    evaluate_answers,
    exact_match,
    normalize_answer,
    token_f1,
)
from nyx.benchmarks.latency import LatencyRecorder, percentile, summarize_latencies, throughput
from nyx.metrics import (
    average_precision,
    evaluate_run,
    metric_names,
    mrr_at_k,
    ndcg_at_k,
    per_query_metrics,
    precision_at_k,
    query_metrics,
    recall_at_k,
)

LOG2_3 = math.log2(3)  # 1.5849625
LOG2_5 = math.log2(5)  # 2.3219281

# Binary case: 3 relevant docs (d2, d4, d9); d9 is never retrieved.
RANKED = ["d1", "d2", "d3", "d4", "d5"]
BINARY = {"d2": 1, "d4": 1, "d9": 1}


def test_binary_cutoff_metrics():
    m = query_metrics(RANKED, BINARY, ks=(1, 5))
    # rank 1 is d1, not relevant: every @1 metric is 0
    for name in ("recall@1", "precision@1", "ndcg@1", "mrr@1", "hit@1"):
        assert m[name] == 0.0
    # top 5 holds d2 (rank 2) and d4 (rank 4): 2 of 3 relevant
    assert m["recall@5"] == pytest.approx(2 / 3)
    assert m["precision@5"] == pytest.approx(2 / 5)
    assert m["hit@5"] == 1.0
    assert m["mrr@5"] == pytest.approx(1 / 2)  # first relevant at rank 2
    # DCG@5 = 1/log2(3) + 1/log2(5) = 0.6309 + 0.4307 = 1.0616
    # IDCG@5 = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.6309 + 0.5 = 2.1309 (3 relevant)
    # nDCG@5 = 1.0616 / 2.1309 = 0.4982
    assert m["ndcg@5"] == pytest.approx((1 / LOG2_3 + 1 / LOG2_5) / (1 + 1 / LOG2_3 + 0.5))
    assert m["ndcg@5"] == pytest.approx(0.498190, abs=1e-6)
    # AP = (P@2 + P@4 + 0 for d9) / 3 = (1/2 + 2/4 + 0) / 3 = 1/3
    assert m["map"] == pytest.approx(1 / 3)


def test_graded_relevance():
    ranked = ["a", "b", "c"]
    grades = {"a": 1, "b": 0, "c": 3, "d": 2}  # b is judged non-relevant (grade 0)
    # DCG@3 = 1/log2(2) + 0/log2(3) + 3/log2(4) = 1 + 0 + 1.5 = 2.5
    # IDCG@3 = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.2619 + 0.5 = 4.7619
    # nDCG@3 = 2.5 / 4.7619 = 0.5250
    assert ndcg_at_k(ranked, grades, 3) == pytest.approx(2.5 / (3 + 2 / LOG2_3 + 0.5))
    assert ndcg_at_k(ranked, grades, 3) == pytest.approx(0.525005, abs=1e-6)
    # nDCG@1 = (1/1) / (3/1): the ideal first gain is grade 3
    assert ndcg_at_k(ranked, grades, 1) == pytest.approx(1 / 3)
    # relevant = {a, c, d}; top 3 holds a and c
    assert recall_at_k(ranked, grades, 3) == pytest.approx(2 / 3)
    assert precision_at_k(ranked, grades, 3) == pytest.approx(2 / 3)
    # AP = (P@1 + P@3) / 3 = (1 + 2/3) / 3 = 5/9
    assert average_precision(ranked, grades) == pytest.approx(5 / 9)


def test_ties_keep_the_given_order():
    # both lists could come from equal scores; the metric reads the order as given
    assert mrr_at_k(["x", "y"], {"y": 1}, 10) == pytest.approx(1 / 2)
    assert mrr_at_k(["y", "x"], {"y": 1}, 10) == 1.0


def test_empty_result_list_scores_zero():
    m = query_metrics([], BINARY, ks=(1, 10))
    assert set(m.values()) == {0.0}


def test_duplicates_earn_nothing_the_second_time():
    ranked = ["a", "a", "b"]
    grades = {"a": 1, "b": 1}
    # rank 2 repeats a: it occupies the rank but is not relevant again
    assert precision_at_k(ranked, grades, 2) == pytest.approx(1 / 2)
    assert recall_at_k(ranked, grades, 2) == pytest.approx(1 / 2)
    assert recall_at_k(ranked, grades, 3) == 1.0
    # AP = (P@1 + P@3) / 2 = (1 + 2/3) / 2 = 5/6
    assert average_precision(ranked, grades) == pytest.approx(5 / 6)
    # DCG@3 = 1 + 0 + 1/log2(4) = 1.5; IDCG@3 = 1 + 1/log2(3) = 1.6309
    assert ndcg_at_k(ranked, grades, 3) == pytest.approx(1.5 / (1 + 1 / LOG2_3))
    # a list of one relevant doc repeated: perfect nDCG, but P@5 counts it once
    assert ndcg_at_k(["a"] * 5, {"a": 1}, 5) == 1.0
    assert precision_at_k(["a"] * 5, {"a": 1}, 5) == pytest.approx(1 / 5)


def test_k_beyond_list_length_divides_precision_by_k():
    # 1 relevant hit in a 2-item list: P@10 = 1/10, not 1/2
    assert precision_at_k(["d2", "x"], BINARY, 10) == pytest.approx(0.1)


def test_evaluate_run_averages_and_exclusions():
    run = {
        "q1": RANKED,
        "q2": ["x"],  # judged, but only with grade 0: excluded
        "q3": ["d2"],  # not judged at all: excluded
        # q4 is judged but missing from the run: scored as an empty list
    }
    qrels = {"q1": BINARY, "q2": {"x": 0}, "q4": {"d7": 2}}
    result = evaluate_run(run, qrels, ks=(5,))
    assert result["num_queries"] == 2  # q1 and q4
    # recall@5 = (2/3 + 0) / 2 = 1/3 ; map = (1/3 + 0) / 2 = 1/6
    assert result["recall@5"] == pytest.approx(1 / 3)
    assert result["map"] == pytest.approx(1 / 6)
    assert result["mrr@5"] == pytest.approx((1 / 2 + 0) / 2)
    assert set(per_query_metrics(run, qrels, ks=(5,))) == {"q1", "q4"}


def test_evaluate_run_without_judged_queries_is_nan():
    result = evaluate_run({"q": ["a"]}, {"q": {"a": 0}}, ks=(1,))
    assert result["num_queries"] == 0
    assert math.isnan(result["ndcg@1"])


def test_metric_names_are_stable_and_complete():
    names = metric_names((1, 10))
    assert names[:2] == ["recall@1", "recall@10"]
    assert names[-1] == "map"
    assert set(evaluate_run({"q": ["a"]}, {"q": {"a": 1}}, ks=(1, 10))) == {
        *names,
        "num_queries",
    }


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="positive integer"):
        precision_at_k(["a"], {"a": 1}, 0)
    with pytest.raises(TypeError, match="run\\['q'\\]"):
        evaluate_run({"q": "a"}, {"q": {"a": 1}})


# --- answers (SQuAD v1.1 normalization) ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The  Denver Broncos!", "denver broncos"),  # article, punctuation, double space
        ("A.B.C.", "abc"),  # punctuation removed, not replaced by spaces
        ("an apple, the pear and a fig", "apple pear and fig"),
        ("Theater Anathema", "theater anathema"),  # articles only as whole words
        ("  MiXeD\tCase\n", "mixed case"),
        ("“curly”", "“curly”"),  # only ASCII punctuation, as the official script
        ("the", ""),
    ],
)
def test_normalize_answer(raw, normalized):
    assert normalize_answer(raw) == normalized


def test_exact_match_takes_the_best_gold():
    assert exact_match("the Denver Broncos", ["Carolina", "Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0
    assert exact_match("Denver Broncos", "denver broncos.") == 1.0  # a single gold string


def test_token_f1():
    # pred [denver, broncos, won] vs gold [denver, broncos]: 2 shared
    # P = 2/3, R = 2/2, F1 = 2 * (2/3) * 1 / (2/3 + 1) = 0.8
    assert token_f1("Denver Broncos won", ["Denver Broncos"]) == pytest.approx(0.8)
    # best gold: vs "Denver Broncos" P=1, R=1/2 -> 2/3; vs "the Broncos" -> 1
    assert token_f1("Broncos", ["Denver Broncos", "the Broncos"]) == 1.0
    # repeated tokens count once per match: "cat cat" vs "cat": P = 1/2, R = 1 -> 2/3
    assert token_f1("the cat cat", ["cat"]) == pytest.approx(2 / 3)
    assert token_f1("nothing shared", ["Denver"]) == 0.0


def test_empty_answers_follow_the_official_script():
    # both normalize to "": EM counts it, F1 (no shared token) does not
    assert exact_match("", ["the"]) == 1.0
    assert token_f1("", ["the"]) == 0.0
    with pytest.raises(ValueError, match="no gold answers"):
        token_f1("x", [])


def test_answer_contains_matches_whole_tokens():
    assert answer_contains("It was won by the Denver Broncos in 2016.", ["Denver Broncos"]) == 1.0
    assert answer_contains("founded in 1990", ["1"]) == 0.0  # no match inside "1990"
    assert answer_contains("anything", ["the"]) == 0.0  # normalizes to nothing
    assert answer_contains("Santa Clara, California", ["santa clara"]) == 1.0


def test_evaluate_answers():
    answers = {"q1": ["Denver Broncos"], "q2": ["gold"], "q3": ["x"]}
    predictions = {"q1": "Denver Broncos", "q2": "a gold medal"}  # q3 unanswered -> 0
    result = evaluate_answers(predictions, answers)
    # EM: (1 + 0 + 0) / 3 ; F1 q2: [gold, medal] vs [gold]: P=1/2, R=1 -> 2/3
    assert result["exact_match"] == pytest.approx(1 / 3)
    assert result["f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert result["contains"] == pytest.approx(2 / 3)
    assert result["num_questions"] == 3


# --- latency -------------------------------------------------------------------------------


def test_percentiles_interpolate_linearly():
    assert percentile([1, 2, 3, 4], 50) == 2.5  # halfway between 2 and 3
    # p90 of 1..10: position 9 * 0.9 = 8.1 -> 9 + 0.1 * (10 - 9) = 9.1
    assert percentile(list(range(1, 11)), 90) == pytest.approx(9.1)
    values = [random.Random(0).random() for _ in range(101)]
    for q in (0, 50, 90, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_summarize_latencies():
    s = summarize_latencies([0.004, 0.001, 0.003, 0.002])  # seconds, unsorted
    assert s.count == 4
    assert s.mean_ms == pytest.approx(2.5)
    assert s.p50_ms == pytest.approx(2.5)
    # p90: position 3 * 0.9 = 2.7 -> 3 + 0.7 * (4 - 3) = 3.7 ms ; p99: 3 + 0.97 = 3.97 ms
    assert s.p90_ms == pytest.approx(3.7)
    assert s.p99_ms == pytest.approx(3.97)
    assert (s.min_ms, s.max_ms) == pytest.approx((1.0, 4.0))
    assert s.throughput_per_s == pytest.approx(4 / 0.010)  # 4 calls in 10 ms
    assert s.to_dict()["p50_ms"] == pytest.approx(2.5)


def test_throughput_and_errors():
    assert throughput(100, 2.0) == 50.0
    with pytest.raises(ValueError, match="> 0 seconds"):
        throughput(10, 0.0)
    with pytest.raises(ValueError, match="no latencies"):
        summarize_latencies([])
    with pytest.raises(ValueError, match=">= 0"):
        summarize_latencies([-1.0])


def test_latency_recorder():
    recorder = LatencyRecorder()
    for _ in range(3):
        with recorder.measure():
            sum(range(1000))
    with pytest.raises(RuntimeError), recorder.measure():
        raise RuntimeError("failed calls are not timed")
    recorder.add(0.5)
    assert len(recorder) == 4
    assert recorder.summary().max_ms == pytest.approx(500.0)
