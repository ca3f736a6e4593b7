"""Aggregators against their claims, on random inputs (hypothesis).

* permutation invariance where it is claimed: vote weights per answer group, and every list
  fusion's scores, do not depend on the order of the systems (runs); CombSUM, CombMNZ and
  entropy fusion do not depend on the order of documents inside a run either;
* one system returns its own answer / ranking;
* ties are resolved deterministically, as documented: the earliest system (group) wins a vote,
  and equal fused scores keep first-seen order;
* entropy fusion's run confidence does not depend on the score scale.

Budget and the long profile: see ``tests/properties.py``.
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nyx.answer_metrics import normalize_answer  # noqa: E402
from nyx.ensemble.aggregation import (  # noqa: E402
    EntropyVote,
    MajorityVote,
    comb_mnz,
    comb_sum,
    entropy_weighted_fusion,
    majority_vote,
    normalized_score_entropy,
    reciprocal_rank_fusion,
    weighted_vote,
)
from nyx.ensemble.types import Answer  # noqa: E402
from tests.properties import scaled  # noqa: E402

ANSWERS = ["Paris", "paris.", "The Paris", "Lyon", "1856", "", "the", "Nikola Tesla", "Tesla",
           "Ünïcode café"]
answers = st.lists(st.one_of(st.sampled_from(ANSWERS), st.text(max_size=12)), min_size=1,
                   max_size=8)
weights = st.floats(0.0, 10.0, allow_nan=False)
DOCS = [f"d{i}" for i in range(12)] + ["δ", "文書"]
scores = st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False)
runs = st.lists(st.lists(st.tuples(st.sampled_from(DOCS), scores), max_size=10,
                         unique_by=lambda e: e[0]), min_size=1, max_size=4)
FUSIONS = {"rrf": reciprocal_rank_fusion, "combsum": comb_sum, "combmnz": comb_mnz,
           "entropy": entropy_weighted_fusion}


def _close(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-9)
                                        for k in a)


def _sorted_by_run_scores(run: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return sorted(run, key=lambda e: -e[1])  # a run is best first


# -- votes -----------------------------------------------------------------------------------

@scaled(60)
@given(texts=answers, data=st.data())
def test_vote_weights_do_not_depend_on_system_order(texts, data):
    w = data.draw(st.lists(weights, min_size=len(texts), max_size=len(texts)))
    order = data.draw(st.permutations(range(len(texts))))
    vote = weighted_vote(texts, w)
    shuffled = weighted_vote([texts[i] for i in order], [w[i] for i in order])
    assert _close(vote.groups, shuffled.groups)
    ranked = sorted(((v, k) for k, v in vote.groups.items() if k), reverse=True)
    clear = len(ranked) == 1 or (len(ranked) > 1 and ranked[0][0] > ranked[1][0] + 1e-9)
    if ranked and clear:  # no tie (to rounding): the same group wins whatever the order
        assert shuffled.key == vote.key == ranked[0][1]


@scaled(60)
@given(texts=answers, data=st.data())
def test_vote_ties_go_to_the_earliest_group(texts, data):
    w = data.draw(st.lists(weights, min_size=len(texts), max_size=len(texts)))
    vote = weighted_vote(texts, w)
    assert vote == weighted_vote(texts, w)  # deterministic
    keys = [normalize_answer(t) for t in texts]
    candidates = [k for k in vote.groups if k] or list(vote.groups)
    best = max(vote.groups[k] for k in candidates)
    earliest = min((k for k in candidates if vote.groups[k] == best), key=keys.index)
    assert vote.key == earliest and vote.index == keys.index(earliest)
    assert vote.answer == texts[vote.index]


@scaled(40)
@given(text=st.one_of(st.sampled_from(ANSWERS), st.text(max_size=12)),
       entropy=st.floats(0.0, 20.0))
def test_one_system_returns_its_own_answer(text, entropy):
    assert majority_vote([text]).answer == text
    answer = Answer("q", text, token_entropies=[entropy], token_logprobs=[-entropy])
    for aggregator in (MajorityVote(), EntropyVote(), EntropyVote(measure="nll", tau=0.5)):
        assert aggregator.aggregate("q", [answer]).text == text


# -- ranked lists ------------------------------------------------------------------------------

@scaled(80)
@given(runs=runs, data=st.data(), method=st.sampled_from(sorted(FUSIONS)))
def test_fusion_does_not_depend_on_run_order(runs, data, method):
    runs = [_sorted_by_run_scores(r) for r in runs]
    order = data.draw(st.permutations(range(len(runs))))
    fused = FUSIONS[method](runs)
    shuffled = FUSIONS[method]([runs[i] for i in order])
    assert _close(dict(fused), dict(shuffled))
    values = [s for _, s in fused]
    assert all(a >= b for a, b in zip(values, values[1:]))


@scaled(60)
@given(runs=runs, data=st.data(), method=st.sampled_from(["combsum", "combmnz", "entropy"]))
def test_score_fusions_do_not_depend_on_document_order_within_a_run(runs, data, method):
    shuffled = [data.draw(st.permutations(r)) for r in runs]
    assert _close(dict(FUSIONS[method](runs)), dict(FUSIONS[method](shuffled)))


@scaled(60)
@given(run=st.lists(st.tuples(st.sampled_from(DOCS), scores), min_size=1, max_size=10,
                    unique_by=lambda e: e[0]).map(_sorted_by_run_scores),
       method=st.sampled_from(sorted(FUSIONS)))
def test_one_run_keeps_its_own_ranking(run, method):
    fused = FUSIONS[method]([run])
    assert [d for d, _ in fused] == [d for d, _ in run]  # equal scores keep the run's order


@scaled(60)
@given(runs=runs, method=st.sampled_from(sorted(FUSIONS)))
def test_fusion_ties_keep_first_seen_order(runs, method):
    runs = [_sorted_by_run_scores(r) for r in runs]
    fused = FUSIONS[method](runs)
    assert fused == FUSIONS[method](runs)  # deterministic
    first_seen = list(dict.fromkeys(d for r in runs for d, _ in r))
    for (a, sa), (b, sb) in zip(fused, fused[1:]):
        if sa == sb:
            assert first_seen.index(a) < first_seen.index(b)


@scaled(60)
@given(run=st.lists(st.tuples(st.sampled_from(DOCS), scores), min_size=2, max_size=10,
                    unique_by=lambda e: e[0]),
       scale=st.floats(1e-3, 1e3), shift=st.floats(-100.0, 100.0))
def test_run_confidence_does_not_depend_on_score_scale(run, scale, shift):
    moved = [(d, scale * s + shift) for d, s in run]
    h = normalized_score_entropy(run)
    assert 0.0 <= h <= 1.0
    values = [s for _, s in run]
    if max(values) - min(values) > 1e-6 * max(1.0, max(abs(v) for v in values)):
        assert normalized_score_entropy(moved) == pytest.approx(h, abs=1e-6)
