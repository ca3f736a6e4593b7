"""RQ3 / RQ4 statistics on hand-computed cases, the easy-VQA caption rule, the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nyx.benchmarks.rq.analysis import (
    agreement_rates,
    chosen_shares,
    pairwise_agreement,
    pca_2d,
    scaling_curve,
    sole_agreement_rates,
)
from nyx.benchmarks.rq.captions import caption_accuracy, describe_pixels
from nyx.benchmarks.rq.data import TaskData, sample_ids
from nyx.benchmarks.rq.systems import SystemResult, aggregate, paired_bootstrap, question_scores
from nyx.ensemble import Corpus, EntropyVote, MajorityVote
from nyx.ensemble.types import Answer

# Two questions, three systems. By hand, with ties going to the earlier system:
#   singles      a: Paris/Milan -> F1 1, 0   b: Lyon/Rome -> 0, 1   c: Paris/Rome -> 1, 1
#   k=1: mean (0.5 + 0.5 + 1) / 3 = 2/3, min 0.5, max 1
#   k=2: a+b -> Paris (tie, a), Milan (tie, a) = 0.5;  a+c -> Paris, Milan (tie, a) = 0.5;
#        b+c -> Lyon (tie, b), Rome = 0.5                -> mean 0.5, min 0.5, max 0.5
#   k=3: Paris (2 of 3), Rome (2 of 3) = 1.0
QUESTIONS = {"q1": "What is the capital of France?", "q2": "What is the capital of Italy?"}
GOLD = {"q1": ["Paris"], "q2": ["Rome"]}
ANSWERS = {"a": {"q1": "Paris", "q2": "Milan"}, "b": {"q1": "Lyon", "q2": "Rome"},
           "c": {"q1": "Paris", "q2": "Rome"}}


@pytest.fixture()
def data() -> TaskData:
    return TaskData("toy", "toy", QUESTIONS, GOLD, {q: {} for q in QUESTIONS},
                    Corpus({"d": "nothing"}))


def _result(name: str, texts: dict[str, str], data: TaskData, entropy: float = 1.0
            ) -> SystemResult:
    answers = {q: Answer(QUESTIONS[q], t, system=name, token_entropies=[entropy])
               for q, t in texts.items()}
    return SystemResult(name, "single", answers,
                        {q: question_scores(a, data.answers[q], {}) for q, a in answers.items()})


def test_scaling_averages_over_every_combination(data: TaskData) -> None:
    results = {n: _result(n, ANSWERS[n], data) for n in ANSWERS}

    def score(combo: tuple[str, ...]) -> float:
        return aggregate("vote", MajorityVote(), [results[n] for n in combo], data).mean("f1")

    points = scaling_curve(["a", "b", "c"], score)
    assert [p.combinations for p in points] == [3, 3, 1]
    assert points[0].scores == {"a": 0.5, "b": 0.5, "c": 1.0}
    assert math.isclose(points[0].mean, 2 / 3) and (points[0].low, points[0].high) == (0.5, 1.0)
    assert points[1].scores == {"a+b": 0.5, "a+c": 0.5, "b+c": 0.5}
    assert points[2].scores == {"a+b+c": 1.0}
    assert points[2].to_dict()["mean"] == 1.0


def test_scaling_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unique"):
        scaling_curve(["a", "a"], lambda combo: 0.0)
    with pytest.raises(ValueError, match="k must be"):
        scaling_curve(["a"], lambda combo: 0.0, ks=[2])


def test_entropy_vote_follows_the_confident_system(data: TaskData) -> None:
    # b is sure of itself (entropy 0), a and c are unsure (entropy 5): b's answers win
    members = [_result("a", ANSWERS["a"], data, 5.0), _result("b", ANSWERS["b"], data, 0.0)]
    voted = aggregate("ev", EntropyVote(tau=1.0), members, data)
    assert voted.predictions() == {"q1": "Lyon", "q2": "Rome"}
    assert {a.metadata["chosen_system"] for a in voted.answers.values()} == {"b"}


def test_agreement_statistics_on_crafted_answers() -> None:
    members = {"a": {"q1": "Paris", "q2": "Milan", "q3": ""},
               "b": {"q1": "the Paris", "q2": "Rome", "q3": ""},
               "c": {"q1": "Lyon", "q2": "Rome", "q3": "Oslo"}}
    ensemble = {"q1": "Paris", "q2": "Rome", "q3": ""}
    # q1: a and b agree (normalised); q2: b and c; q3: empty answers agree with nothing
    assert agreement_rates(ensemble, members) == {"a": 1 / 3, "b": 2 / 3, "c": 1 / 3}
    assert sole_agreement_rates(ensemble, members) == {"a": 0.0, "b": 0.0, "c": 0.0}
    assert sole_agreement_rates({"q1": "Lyon", "q2": "Milan", "q3": "x"}, members) == {
        "a": 1 / 3, "b": 0.0, "c": 1 / 3}
    assert chosen_shares({"q1": "a", "q2": "b", "q3": "b"}, ["a", "b", "c"]) == {
        "a": 1 / 3, "b": 2 / 3, "c": 0.0}
    pairs = pairwise_agreement(members)
    assert pairs["a"]["a"] == 1.0 and pairs["a"]["b"] == 1 / 3 and pairs["b"]["c"] == 1 / 3


def test_pca_keeps_planar_points_and_pads_narrow_input() -> None:
    square = np.array([[0, 0, 5], [2, 0, 5], [0, 2, 5], [2, 2, 5]], dtype=float)
    coords = pca_2d(square)
    assert coords.shape == (4, 2)
    # distances inside the plane survive the projection
    assert math.isclose(np.linalg.norm(coords[0] - coords[3]), math.sqrt(8))
    assert pca_2d(np.array([[1.0], [2.0], [4.0]])).shape == (3, 2)


def _canvas() -> np.ndarray:
    return np.full((64, 64, 3), 245, dtype=np.uint8)


def test_caption_rule_reads_colour_and_shape_from_pixels() -> None:
    square = _canvas()
    square[10:40, 12:44] = (255, 0, 0)
    disk = _canvas()
    yy, xx = np.mgrid[:64, :64]
    disk[(yy - 32) ** 2 + (xx - 30) ** 2 <= 15 ** 2] = (0, 0, 255)
    triangle = _canvas()
    for row in range(10, 50):
        half = (row - 10) // 2
        triangle[row, 32 - half:33 + half] = (0, 128, 128)
    assert (describe_pixels(square).color, describe_pixels(square).shape) == ("red", "rectangle")
    assert (describe_pixels(disk).color, describe_pixels(disk).shape) == ("blue", "circle")
    assert (describe_pixels(triangle).color, describe_pixels(triangle).shape) == (
        "teal", "triangle")
    assert describe_pixels(square).text("7") == "Image 7 shows a red rectangle."
    captions = {"x": describe_pixels(square), "y": describe_pixels(disk)}
    accuracy = caption_accuracy(captions, {"x": {"color": "red", "shape": "rectangle"},
                                           "y": {"color": "blue", "shape": "triangle"}})
    assert accuracy == {"images": 2, "color": 1.0, "shape": 0.5, "both": 0.5}


def test_sampling_is_seeded_and_keeps_order() -> None:
    ids = [f"q{i}" for i in range(50)]
    first = sample_ids(ids, 5, seed=13)
    assert first == sample_ids(ids, 5, seed=13) != sample_ids(ids, 5, seed=14)
    assert first == sorted(first, key=ids.index)
    assert sample_ids(ids[:3], 5, seed=13) == ids[:3]


def test_paired_bootstrap_interval() -> None:
    low, high = paired_bootstrap([1.0] * 10, [0.0] * 10, seed=0)
    assert low == high == 1.0
    low, high = paired_bootstrap([1, 0, 1, 0], [0, 1, 0, 1], seed=0)
    assert -1.0 <= low < 0 < high <= 1.0


def _fixed(name: str, role: str, f1: dict[str, float]) -> SystemResult:
    result = SystemResult(name, role)
    for qid, value in f1.items():
        result.answers[qid] = Answer(qid, "")
        result.scores[qid] = {"exact_match": 0.0, "f1": value, "contains": 0.0,
                              "gold_passage": 0.0}
    return result


def test_best_single_is_chosen_on_held_out_questions():
    from nyx.benchmarks.rq.runner import TaskResult, _gains
    from nyx.benchmarks.rq.systems import held_out_best

    qids = [f"q{i}" for i in range(10)]
    halves = held_out_best([_fixed("x", "single", dict.fromkeys(qids, 0.0))], seed=5).halves
    assert sorted(halves[0] + halves[1]) == sorted(qids) and len(halves[0]) == 5
    # "lucky" is best over all questions (0.6 > 0.5) only thanks to half 1.
    steady = _fixed("steady", "single", dict.fromkeys(qids, 0.5))
    lucky = _fixed("lucky", "single", {q: 1.0 if q in halves[0] else 0.2 for q in qids})
    reference = held_out_best([steady, lucky], seed=5)
    assert reference.chosen == ("lucky", "steady")
    # half 1 is scored by the system chosen on half 2 (steady), half 2 by lucky
    assert reference.scores["f1"] == [0.5 if q in halves[0] else 0.2 for q in qids]

    task = TaskResult("t", "d", len(qids), {})
    task.systems = {"steady": steady, "lucky": lucky,
                    "vote": _fixed("vote", "aggregator", dict.fromkeys(qids, 0.5))}
    _gains(task, seed=5)
    assert task.best_single == "lucky"  # in-sample, shown in the table
    assert task.best_single_held_out == ("lucky", "steady")
    # against the held-out reference (mean 0.35), not the in-sample best's 0.6
    assert task.gains["vote"]["f1"] == pytest.approx(0.15)
    low, high = task.gains["vote"]["f1_ci95"]
    assert low <= 0.15 <= high


def test_the_oracle_and_the_share_of_its_gap_an_aggregate_closes():
    """The oracle scores each question by its best single system; an aggregate's share of the
    oracle gap is its gain over the held-out best divided by the oracle's; the table shows
    both."""
    from nyx.benchmarks.rq.report import main_table
    from nyx.benchmarks.rq.runner import TaskResult, _gains, oracle_mean

    qids = [f"q{i}" for i in range(8)]
    # a is right on the first half, b on the second: the oracle is right everywhere
    a = _fixed("a", "single", {q: 1.0 if i < 4 else 0.0 for i, q in enumerate(qids)})
    b = _fixed("b", "single", {q: 0.0 if i < 4 else 1.0 for i, q in enumerate(qids)})
    assert oracle_mean([a, b], "f1") == 1.0 and oracle_mean([a], "f1") == 0.5
    task = TaskResult("t", "d", len(qids), {})
    task.systems = {"a": a, "b": b,
                    "pick": _fixed("pick", "aggregator",
                                   {q: 1.0 if i < 6 else 0.0 for i, q in enumerate(qids)})}
    _gains(task, seed=3)
    assert task.oracle == {"f1": 1.0, "exact_match": 0.0}  # _fixed scores EM 0
    gain = task.gains["pick"]["f1"]
    assert gain == pytest.approx(0.75 - task.reference["f1"])
    assert task.gains["pick"]["oracle_gap_closed"] == pytest.approx(
        gain / (1.0 - task.reference["f1"]))
    table = main_table(task)
    assert "oracle (best single per question)" in table and "share of oracle gap" in table
    # a reference that already reaches the oracle leaves no gap to close
    same = TaskResult("t", "d", len(qids), {})
    same.systems = {"a": a, "vote": _fixed("vote", "aggregator", dict.fromkeys(qids, 0.5))}
    _gains(same, seed=3)
    assert same.gains["vote"]["oracle_gap_closed"] is None
