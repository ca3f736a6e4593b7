"""The one hit type: what ``to_dict`` writes, ``from_dict`` reads back (the ensemble's cache, the
HTTP API's rows read by the command line)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nyx.content import Item
from nyx.hits import collapse
from nyx.indexes import DocSummary
from nyx.results import SearchResult


def test_a_hit_round_trips_through_json_without_its_document() -> None:
    hit = SearchResult("notes/a.md#2", 0.5, text="espresso", images=["sha256:ab"],
                       metadata={"topic": "coffee"}, relevance=0.8, dense_score=0.7,
                       lexical_score=3.5, first_stage_score=0.4, rerank_score=2.5,
                       source="notes/a.md", chunk=2,
                       matched_chunks=3, duplicates=["notes/b.md"],
                       document=Item(["espresso"], id="notes/a.md#2"))
    data = hit.to_dict()
    assert "document" not in data and set(data) == {
        "id", "score", "text", "images", "metadata", "relevance", "dense_score",
        "lexical_score", "first_stage_score", "rerank_score", "source", "chunk", "matched_chunks",
        "duplicates"}
    back = SearchResult.from_dict(json.loads(json.dumps(data)))
    assert back == hit and back.document is None
    back.duplicates.append("notes/c.md")  # a copy, not the original's list
    assert hit.duplicates == ["notes/b.md"]


def test_a_row_is_the_hit_extended_by_composition() -> None:
    """An API row is ``to_dict`` plus what the edge adds; reading one back keeps the hit."""
    hit = SearchResult("a", 1.0, text="t")
    row = {**hit.to_dict(), "snippet": "t", "confidence": 0.5, "modality": "text"}
    assert SearchResult.from_dict(row) == hit


def test_only_id_and_score_are_positional() -> None:
    """``SearchResult(id, score, text)`` would have been a document in third place once."""
    with pytest.raises(TypeError):
        SearchResult("a", 1.0, "text")  # type: ignore[misc]
    assert SearchResult("a", 1.0).threshold_score == 1.0


_summary = st.one_of(st.none(), st.builds(
    DocSummary, id=st.just(""), source=st.one_of(st.none(), st.sampled_from("abcde")),
    chunk=st.one_of(st.none(), st.integers(0, 3)), content_hash=st.sampled_from(["", "x", "y"]),
    has_text=st.just(True), n_vectors=st.just(1)))


@settings(max_examples=300, deadline=None)
@given(summaries=st.lists(_summary, max_size=30), limit=st.integers(0, 12),
       group=st.sampled_from(["document", "chunk"]))
def test_collapse_with_a_limit_keeps_the_first_hits_as_they_were(summaries, limit, group):
    """``collapse(..., limit=n)`` (the retriever makes hit objects only for the hits it keeps)
    returns the first ``n`` hits of the unlimited call, with the same chunk counts and folded
    duplicates: every candidate is still looked at."""
    ranked = [(f"d{i}", 1.0 - i / 100) for i in range(len(summaries))]
    every = collapse(ranked, summaries, group)
    first = collapse(ranked, summaries, group, limit=limit)
    assert [h.to_dict() for h in first] == [h.to_dict() for h in every[:limit]]
