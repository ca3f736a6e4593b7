"""Fusion edge cases, standard RRF, the query-adaptive weight, and the study's congruence."""

from __future__ import annotations

import numpy as np
import pytest

from nyx import Item
from nyx.benchmarks.fusion_domains import candidates, fused_scores
from nyx.fusion import minmax
from nyx.hybrid import FUSION_METHODS, HybridConfig, confidence, fuse_scores
from nyx.retriever import Retriever


def test_minmax_constant_lists_keep_evidence():
    assert minmax(np.array([3.0])).tolist() == [1.0]  # one candidate is the best there is
    assert minmax(np.array([2.0, 2.0])).tolist() == [1.0, 1.0]
    assert minmax(np.array([0.0, 0.0])).tolist() == [0.0, 0.0]  # no query word anywhere
    assert minmax(np.array([])).tolist() == []
    # Row by row with a mask, as the benchmarks' vectorised fusion uses it.
    rows = minmax(np.array([[1.0, 3.0, 9.0], [2.0, 2.0, 7.0]]), np.array([[1, 1, 0], [1, 1, 0]]))
    assert rows[:, :2].tolist() == [[0.0, 1.0], [1.0, 1.0]]


@pytest.mark.parametrize("method", FUSION_METHODS)
def test_one_candidate_scores_above_zero(method):
    fused = fuse_scores(["only"], [0.42], [3.1], HybridConfig(method=method))
    assert fused[0][0] == "only"
    if method != "zscore":  # z-scores centre a single value at 0 by definition
        assert fused[0][1] > 0


def test_one_list_empty_leaves_the_other_ranking():
    dense, lexical = [0.9, 0.2, 0.5], [0.0, 0.0, 0.0]  # BM25 found nothing
    for method in FUSION_METHODS:
        fused = fuse_scores(["a", "b", "c"], dense, lexical, HybridConfig(method=method))
        assert [i for i, _ in fused] == ["a", "c", "b"], method


def test_standard_rrf_gives_nothing_from_a_list_a_document_is_not_in():
    # "d" was only retrieved by BM25 (its dense score was looked up afterwards)
    ids = ["a", "b", "d"]
    fused = dict(fuse_scores(ids, [0.9, 0.8, 0.1], [0.0, 5.0, 9.0],
                             HybridConfig(method="rrf", dense_weight=0.5),
                             in_dense=np.array([True, True, False]),
                             in_lexical=np.array([False, True, True])))
    assert fused["a"] == pytest.approx(1 / 61)  # dense rank 1, absent from BM25
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 62)  # dense 2, BM25 2
    assert fused["d"] == pytest.approx(1 / 61)  # BM25 rank 1 only


def test_confidence_and_adaptive_weight():
    assert confidence(np.array([])) == 0.0
    assert confidence(np.array([0.7])) == 1.0
    assert confidence(np.array([0.5, 0.5, 0.5])) == 0.0
    assert confidence(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(1.0 / 0.75)
    # A decided BM25 list and a flat dense list: adaptive fusion follows BM25.
    ids = ["x", "y", "z"]
    dense, lexical = [0.50, 0.51, 0.49], [12.0, 1.0, 0.9]
    plain = fuse_scores(ids, dense, lexical, HybridConfig(dense_weight=0.8))
    adaptive = fuse_scores(ids, dense, lexical,
                           HybridConfig(dense_weight=0.8, method="adaptive", alpha=1.0))
    assert plain[0][0] == "y" and adaptive[0][0] == "x"
    with pytest.raises(ValueError, match="alpha"):
        HybridConfig(alpha=-1)
    with pytest.raises(ValueError, match="unknown fusion method"):
        HybridConfig(method="max")


@pytest.mark.parametrize("method", ["minmax", "adaptive", "rrf"])
def test_the_study_fuses_as_the_retriever_does(method):
    """nyx.benchmarks.fusion_domains chooses the default with a vectorised copy of the fusion;
    on random score matrices it must order candidates exactly as nyx.hybrid does."""
    rng = np.random.default_rng(7)
    n_q, n_d, c = 12, 40, 8
    dense = rng.normal(size=(n_q, n_d))
    lexical = np.where(rng.random((n_q, n_d)) < 0.5, rng.gamma(2.0, 2.0, (n_q, n_d)), 0.0)
    cand = candidates(dense, lexical, np.zeros(n_q, dtype=int), c)
    config = HybridConfig(dense_weight=0.35, method=method, alpha=0.7, candidates=c)
    study = fused_scores(cand, method, 0.35, 0.7)
    for q in range(n_q):
        cols = np.flatnonzero(cand.valid[q])
        ids = [str(j) for j in cols]
        ours = fuse_scores(ids, cand.dense[q, cols], cand.lexical[q, cols], config,
                           in_dense=cand.dense_rank[q, cols] < c,
                           in_lexical=cand.lexical_rank[q, cols] < c)
        theirs = sorted(cols, key=lambda j: (-study[q, j], -cand.dense[q, j], str(j)))
        assert [i for i, _ in ours] == [str(j) for j in theirs]


def test_hybrid_search_with_one_document_scores_above_zero(lite):
    with Retriever(encoder=lite) as r:
        r.add([Item(["Octopuses have three hearts."], {}, "octo")])
        hit = r.search("octopuses have three hearts", k=3)[0]
        assert hit.id == "octo" and hit.score > 0.5


def test_batched_queries_equal_one_by_one(lite):
    with Retriever(encoder=lite) as r:
        r.add([Item([t], {}, f"d{i}") for i, t in enumerate([
            "Volcanoes erupt molten rock.", "Bees make honey from nectar.",
            "Glaciers carve deep valleys.", "Violins have four strings.",
            "Chess openings control the centre."])])
        queries = ["what do bees make", "string instruments", "ice shaping land",
                   "lava from a mountain"]
        batched = r.search(queries, k=3)
        single = [r.search(q, k=3) for q in queries]
        assert [[(h.id, round(h.score, 5)) for h in hits] for hits in batched] == \
            [[(h.id, round(h.score, 5)) for h in hits] for hits in single]


@pytest.mark.parametrize("method", ["minmax", "adaptive", "zscore", "rrf"])
def test_textless_documents_can_be_scored_by_their_dense_half(method):
    """An image nothing was read from cannot match a word. With textless=1 its fused score
    is its dense score's, instead of part of it against a lexical zero."""
    ids = ["note", "picture", "other"]
    dense = np.array([0.30, 0.60, 0.10])
    lexical = np.array([4.0, 0.0, 1.0])
    has_text = np.array([True, False, True])
    zero = dict(fuse_scores(ids, dense, lexical, HybridConfig(method=method),
                            has_text=has_text))
    stand_in = dict(fuse_scores(ids, dense, lexical,
                                HybridConfig(method=method, textless=1.0),
                                has_text=has_text))
    assert stand_in["picture"] > zero["picture"]
    assert stand_in["note"] == pytest.approx(zero["note"])
    assert stand_in["other"] == pytest.approx(zero["other"])
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="textless"):
            HybridConfig(textless=bad)
