"""Cross-encoder reranking with the real offline ms-marco MiniLM model."""

from __future__ import annotations

import numpy as np
import pytest

from nyx import Item
from nyx.rerank import CrossEncoder
from nyx.retriever import Retriever

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


def test_reranking_moves_the_answer_to_the_top(lite, cross_encoder):
    with Retriever(encoder=lite, rerank=cross_encoder, rerank_candidates=3) as r:
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
