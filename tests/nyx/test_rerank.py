"""Cross-encoder reranking with the real offline ms-marco MiniLM model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nyx import Item
from nyx.hits import confident_window, rerank_results
from nyx.rerank import CONFIDENT_DEPTH, CONFIDENT_MARGIN, DEFAULT_RERANK_BLEND, CrossEncoder
from nyx.results import SearchResult
from nyx.retriever import Retriever
from nyx.search_options import SearchOptions

DOCS = [
    Item(["Hamlet play. The play Hamlet. Who wrote plays? Hamlet, the play, was played."],
         {}, "stuffed"),
    Item(["William Shakespeare is the author of the tragedy Hamlet, written around 1600."],
         {}, "answer"),
    Item(["Copenhagen is the capital of Denmark, home of Kronborg castle."], {}, "castle"),
]


@pytest.fixture(scope="module")
def cross_encoder():
    return CrossEncoder(num_threads=1)


def test_length_sorted_batches_keep_the_input_order(cross_encoder):
    passages = ["short one", "a much longer passage " * 30, "medium length passage here",
                "Hamlet was written by Shakespeare."]
    together = cross_encoder.score("who wrote hamlet", passages)
    alone = np.array([cross_encoder.score("who wrote hamlet", [p])[0] for p in passages])
    # int8 dynamic quantisation scales activations per batch: scores move by ~0.1 logits
    assert np.allclose(together, alone, atol=0.3)
    assert np.argsort(together).tolist() == np.argsort(alone).tolist()
    assert int(np.argmax(together)) == 3
    assert cross_encoder.score("q", []).shape == (0,)


def test_long_passages_are_cut_to_the_window():
    ce = CrossEncoder(max_length=32, num_threads=1)
    long = "Shakespeare wrote Hamlet. " + "filler words " * 2000
    assert np.isfinite(ce.score("who wrote hamlet", [long])).all()
    with pytest.raises(ValueError, match="max_length"):
        CrossEncoder(max_length=4)


def test_the_default_window_cuts_the_passage_and_keeps_the_query(cross_encoder):
    """Pairs are cut to max_length (256 by default) tokens, around the query's words; with
    ``passage_window="head"`` the passage's head is read and text past the window changes
    nothing; the query is never the part cut."""
    assert CrossEncoder().max_length == cross_encoder.max_length == 256
    assert CrossEncoder().passage_window == "focus"
    assert CrossEncoder().batch_size == 1  # one pair per run: no padding at all
    head_reader = CrossEncoder(max_length=256, passage_window="head", num_threads=1)
    query = "who wrote hamlet"
    head = "Shakespeare wrote Hamlet. " + "filler words " * 150  # > 256 tokens
    tail = "The author of Hamlet was in fact Christopher Marlowe. " * 50
    pair = head_reader.load()._tokenizer.encode(query, head + tail)
    assert len(pair.ids) == 256 and pair.type_ids.count(0) == len(
        head_reader._tokenizer.encode(query).ids)
    scores = head_reader.score(query, [head, head + tail, head + " " + tail[::-1]])
    assert np.allclose(scores, scores[0], atol=1e-4)
    # the focused window reads the tail, where "hamlet" is named again and again
    focused = cross_encoder.score(query, [head, head + tail])
    assert abs(focused[1] - focused[0]) > 1.0


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_batches_padded_to_their_own_longest_pair_score_like_one_by_one(batch_size):
    """Pairs are sorted by length and each batch is padded only to its own longest pair."""
    ce = CrossEncoder(batch_size=batch_size, num_threads=1)
    passages = [("Hamlet is a tragedy by William Shakespeare. " * n).strip()
                for n in (1, 9, 2, 30, 5, 1, 14)]
    together = ce.score("who wrote hamlet", passages)
    alone = np.array([ce.score("who wrote hamlet", [p])[0] for p in passages])
    assert np.allclose(together, alone, atol=0.3)  # int8 activations are scaled per batch


def test_session_settings():
    """Full graph optimisation, one sequential stream, the asked intra-op threads, no spinning."""
    import onnxruntime as ort

    ce = CrossEncoder(num_threads=2).load()
    options = ce._session.get_session_options()
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_reranking_moves_the_answer_to_the_top(lite, cross_encoder):
    """The cross-encoder alone (blend 1) puts the answer above the keyword-stuffed passage the
    first stage liked best (the shipped blend keeps the first stage's say: see below)."""
    with Retriever(encoder=lite, rerank=cross_encoder, rerank_candidates=3) as r:
        r.set_reranker(cross_encoder, 3, blend=1.0)
        r.add(DOCS)
        query = "who wrote the play hamlet"
        first = r.search(query, k=3, rerank=False)
        reranked = r.search(query, k=3)
        assert first[0].id == "stuffed"
        assert reranked[0].id == "answer" and reranked[0].first_stage_score is not None
        assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)
        assert {h.id for h in reranked} == {h.id for h in first}
        assert r.search(query, k=1)[0].id == "answer"  # k < candidates still reranks N


def test_missing_model_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        CrossEncoder(tmp_path).load()


PASSAGES = ["William Shakespeare wrote the tragedy Hamlet around 1600.",
            "Copenhagen is the capital of Denmark.", "Hamlet is a small village.",
            "The play was first performed at the Globe theatre.", "", "  ",
            "Kronborg castle stands at Helsingor.", "espresso, a small strong coffee"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PASSAGES),
                          st.floats(0.0, 1.0, allow_nan=False)), min_size=1, max_size=8))
def test_a_reranked_list_is_in_descending_score_order(cross_encoder, hits) -> None:
    """Mixed hits (text, and images nothing was read from: empty text) come back as one list
    sorted by score, on the cross-encoder's scale; the fused scores stay as first-stage."""
    ranked = sorted(enumerate(hits), key=lambda h: -h[1][1])
    results = [SearchResult(f"d{i}", score, text=text) for i, (text, score) in ranked]
    fused = {r.id: r.score for r in results}
    out = rerank_results(cross_encoder, "who wrote hamlet", results)
    scores = [r.score for r in out]
    assert scores == sorted(scores, reverse=True)
    assert sorted(r.id for r in out) == sorted(fused)
    if any(t.strip() for t, _ in hits):
        assert all(r.first_stage_score == fused[r.id] for r in out)
        texted = [r for r in out if r.text.strip()]
        direct = cross_encoder.score("who wrote hamlet", [r.text for r in texted])
        assert np.allclose([r.score for r in texted], direct, atol=0.3)


def test_a_textless_hit_keeps_its_place_among_reranked_ones(cross_encoder) -> None:
    """An image with no text, fused between two text hits, lands on the cross-encoder's scale
    where a line through the text hits puts its first-stage score (a -9.8 logit above a 0.8
    fused score is what this replaced)."""
    results = [SearchResult("answer", 0.9, text=PASSAGES[0]),
               SearchResult("photo", 0.6, text=""),
               SearchResult("capital", 0.3, text=PASSAGES[1])]
    out = rerank_results(cross_encoder, "who wrote hamlet", results)
    assert [r.id for r in out] == ["answer", "photo", "capital"]
    a, p, c = (r.score for r in out)
    assert a > p > c and p == pytest.approx((a + c) / 2, abs=1e-6)


def test_reranking_one_call_does_not_rerank_the_next(lite) -> None:
    """``search(q, rerank=...)`` on a retriever without a reranker reranks that call only (a
    server's per-request ``rerank`` once turned reranking on for every later request)."""
    with Retriever(encoder=lite) as r:
        r.add(DOCS)
        query = "who wrote the play hamlet"
        plain = r.search(query, k=3)
        assert r.search(query, k=3, rerank=3)[0].first_stage_score is not None
        after = r.search(query, k=3)
        assert r.reranker is None and all(h.first_stage_score is None for h in after)
        assert [(h.id, h.score) for h in after] == [(h.id, h.score) for h in plain]


def _hits(scores: list[float]) -> list[SearchResult]:
    return [SearchResult(d.id, s, document=d, text=d.text) for d, s in zip(DOCS, scores)]


def test_the_blend_weight_decides_how_much_the_first_stage_keeps(cross_encoder):
    """blend 1: the cross-encoder's order; 0: the first stage's order (reranking cannot undo a
    confident first stage); every hit keeps both scores."""
    query = "who wrote hamlet"
    first = [0.9, 0.5, 0.1]  # the first stage put the keyword-stuffed passage first
    logits = cross_encoder.score(query, [d.text for d in DOCS])
    alone = rerank_results(cross_encoder, query, _hits(first), blend=1.0)
    assert [r.id for r in alone] == [DOCS[i].id for i in np.argsort(-logits)]
    assert alone[0].id == "answer"
    kept = rerank_results(cross_encoder, query, _hits(first), blend=0.0)
    assert [r.id for r in kept] == ["stuffed", "answer", "castle"]
    half = rerank_results(cross_encoder, query, _hits(first), blend=0.5)
    for hits in (alone, kept, half):
        by_id = {r.id: r for r in hits}
        assert [by_id[d.id].first_stage_score for d in DOCS] == first
        assert np.allclose([by_id[d.id].rerank_score for d in DOCS], logits)
        assert [r.score for r in hits] == sorted((r.score for r in hits), reverse=True)


def test_a_retriever_blends_with_its_setting_and_refuses_a_bad_weight(cross_encoder):
    with Retriever(rerank=cross_encoder) as r:
        r.add(DOCS)
        assert r.rerank_blend == DEFAULT_RERANK_BLEND
        r.set_reranker(cross_encoder, blend=0.0)
        first = r.search("who wrote hamlet", k=3, rerank=False)
        kept = r.search("who wrote hamlet", k=3)
        assert [h.id for h in kept] == [h.id for h in first]
        assert all(h.rerank_score is not None for h in kept)
        for bad in (1.5, -0.1, True, "0.5"):
            with pytest.raises(ValueError, match="blend"):
                r.set_reranker(cross_encoder, blend=bad)


class CountingCrossEncoder(CrossEncoder):
    """The real cross-encoder, counting the pairs it reads."""

    pairs = 0

    def score_pairs(self, pairs):
        self.pairs += len(pairs)
        return super().score_pairs(pairs)


def test_confident_window_reranks_the_top_only_when_the_first_stage_leads() -> None:
    lead = [0.95, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.0, 0.0]
    # (0.95 - 0.5) / (0.95 - 0.1): the gap is 53% of the top ten's spread
    assert confident_window(lead, 0.3, 3) == 3
    assert confident_window(lead, 0.6, 3) == len(lead)
    assert confident_window(lead, None, 3) == len(lead)
    close = [0.9, 0.85, 0.8, 0.5, 0.4, 0.3]
    assert confident_window(close, 0.3, 3) == len(close)  # 0.05 / 0.6 of the spread
    assert confident_window([0.9, 0.1, 0.0], 0.3, 3) == 3  # no fewer than all
    assert confident_window([0.5] * 6, 0.3, 3) == 6  # no spread: no confidence


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PASSAGES), st.floats(0.0, 1.0, allow_nan=False)),
                min_size=1, max_size=8), st.integers(0, 9), st.sampled_from([1.0, 0.7, 0.0]))
def test_a_partly_reranked_list_keeps_its_tail_below_in_first_stage_order(
        cross_encoder, hits, window, blend) -> None:
    ranked = sorted(enumerate(hits), key=lambda h: -h[1][1])
    results = [SearchResult(f"d{i}", score, text=text) for i, (text, score) in ranked]
    before = [r.id for r in results]
    out = rerank_results(cross_encoder, "who wrote hamlet", results, blend, window)
    scores = [r.score for r in out]
    assert scores == sorted(scores, reverse=True)
    head = min(window, len(results))
    if any(r.text.strip() for r in results[:head]):
        assert sorted(r.id for r in out[:head]) == sorted(before[:head])
        assert [r.id for r in out[head:]] == before[head:]  # the tail as the first stage had it
        assert all(r.rerank_score is None for r in out[head:])
        assert all(r.rerank_score is not None for r in out[:head])


def test_a_confident_query_has_only_its_top_three_read(lite) -> None:
    """Eight candidates; the first stage puts the espresso passage far ahead for a query that
    names it: with ``confident_margin`` the cross-encoder reads three pairs, not eight, and the
    order of the other five is the first stage's. By default it reads all eight."""
    ce = CountingCrossEncoder(num_threads=1)
    docs = [Item([p], {}, f"p{i}") for i, p in enumerate(PASSAGES) if p.strip()] + DOCS
    with Retriever(encoder=lite) as r:
        r.add(docs)
        query = "espresso, a small strong coffee"
        first = r.search(query, k=8, rerank=False)
        assert confident_window([h.score for h in first], CONFIDENT_MARGIN, 3) == 3
        r.set_reranker(ce, 8, confident_margin=CONFIDENT_MARGIN)
        hits = r.search(query, k=8)
        assert ce.pairs == CONFIDENT_DEPTH == 3
        assert [h.id for h in hits[3:]] == [h.id for h in first[3:]]
        assert hits[0].id == "p7" and all(h.rerank_score is None for h in hits[3:])
        assert all(h.relevance is not None for h in hits)
        r.set_reranker(ce, 8)
        everything = r.search(query, k=8)
        assert len(everything) == 8 and ce.pairs == 3 + 8
        assert all(h.rerank_score is not None for h in everything)
        for bad in (-0.1, True, "0.3"):
            with pytest.raises(ValueError, match="confident_margin"):
                r.set_reranker(ce, 8, confident_margin=bad)
        with pytest.raises(ValueError, match="confident_depth"):
            r.set_reranker(ce, 8, confident_depth=0)


def test_rerank_scope_chooses_the_window_per_call(lite) -> None:
    """``rerank_scope="unsure"`` gives one call the confident window of a retriever set to
    rerank everything (three pairs read, the tail in first-stage order); ``"all"`` turns a
    retriever's window off for one call; left out, the retriever's setting decides."""
    ce = CountingCrossEncoder(num_threads=1)
    docs = [Item([p], {}, f"p{i}") for i, p in enumerate(PASSAGES) if p.strip()] + DOCS
    query = "espresso, a small strong coffee"
    with Retriever(encoder=lite) as r:
        r.add(docs)
        first = r.search(query, k=8, rerank=False)
        r.set_reranker(ce, 8)
        hits = r.search(query, k=8, rerank_scope="unsure")
        assert ce.pairs == CONFIDENT_DEPTH
        assert [h.id for h in hits[3:]] == [h.id for h in first[3:]]
        assert all(h.rerank_score is None for h in hits[3:])
        assert hits == r.search(query, k=8, options=SearchOptions(rerank_scope="unsure"))
        ce.pairs = 0
        r.search(query, k=8)  # the retriever's setting: every candidate
        assert ce.pairs == 8
        r.set_reranker(ce, 8, confident_margin=CONFIDENT_MARGIN)
        ce.pairs = 0
        everything = r.search(query, k=8, rerank_scope="all")
        assert ce.pairs == 8 and all(h.rerank_score is not None for h in everything)
        ce.pairs = 0
        r.search([query, query], k=8)  # a batch keeps the retriever's window for each
        assert ce.pairs == 2 * CONFIDENT_DEPTH
        with pytest.raises(ValueError, match="rerank_scope 'some'.*all or unsure"):
            r.search(query, rerank_scope="some")  # type: ignore[arg-type]
