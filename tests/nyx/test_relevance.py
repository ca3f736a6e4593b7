"""An absolute relevance estimate: a query about nothing in the index returns nothing above the
default cut-off, while the demo's questions keep their answers."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from nyx import Item
from nyx.cli.index import main
from nyx.relevance import DEFAULT_MIN_RELEVANCE, Calibration, calibration_for, estimate
from tests.serve.test_server_support import DEMO_CORPUS

pytest_plugins = ("tests.serve.test_server_support",)

#: the README's demo questions and the answer each must keep
ANSWERS = {"a cup of coffee": "notes/coffee.md#0",
           "when does the library open?": "signs/library-hours.png",
           "how long do cats sleep?": "notes/cats.txt#0",
           "can I get my money back?": "faq-returns",
           "a space launch": "photos/rocket-launch.jpg"}
NOTHING_THERE = ["ancient amphitheatre", "volcanic eruptions in Iceland",
                 "quarterly tax filing deadlines"]


def test_a_query_about_nothing_indexed_returns_nothing(demo_retriever: Any) -> None:
    for query in NOTHING_THERE:
        hits = demo_retriever.search(query, k=5)
        assert hits and all(0.0 <= h.relevance < DEFAULT_MIN_RELEVANCE for h in hits), \
            [(h.id, h.score, h.relevance) for h in hits]
        assert demo_retriever.search(query, k=5, min_score=DEFAULT_MIN_RELEVANCE) == []


def test_the_demo_questions_keep_their_answers(demo_retriever: Any) -> None:
    for query, answer in ANSWERS.items():
        hits = demo_retriever.search(query, k=3, min_score=DEFAULT_MIN_RELEVANCE)
        assert hits and hits[0].id == answer, (query, [(h.id, h.relevance) for h in hits])
        # the estimate is comparable across queries: a fused score is ~1 for every top hit
        assert hits[0].relevance is not None and hits[0].relevance >= DEFAULT_MIN_RELEVANCE


def test_relevance_by_mode(demo_retriever: Any) -> None:
    dense = demo_retriever.search("a cup of coffee", k=5, mode="dense")
    assert [h.relevance for h in dense] == sorted((h.relevance for h in dense), reverse=True)
    lexical = demo_retriever.search("espresso crema", k=3, mode="lexical")
    assert all(h.relevance is not None and 0 < h.relevance < 1 for h in lexical)
    image = demo_retriever.search(Item.of(DEMO_CORPUS / "photos" / "espresso.jpg"), k=3)
    assert all(h.relevance is None for h in image)  # no calibration for image queries
    # min_score on an image query compares the score, as before
    assert len(demo_retriever.search(Item.of(DEMO_CORPUS / "photos" / "espresso.jpg"), k=3,
                                     min_score=-1.0)) == 3
    reranked = demo_retriever.search("how long do cats sleep?", k=3, rerank=5)
    assert reranked[0].id == "notes/cats.txt#0" and reranked[0].relevance is not None
    assert reranked[0].relevance > reranked[-1].relevance


def test_calibrations() -> None:
    hybrid = calibration_for("nyx-lite", "hybrid")
    assert hybrid is not None and calibration_for("clip:ViT-B-32", "hybrid") is None
    assert calibration_for("clip:ViT-B-32", "lexical") is not None  # BM25 needs no encoder
    assert hybrid(dense=0.8, share=0.6) > hybrid(dense=0.3, share=0.1)
    assert Calibration(bias=1e6)() == 1.0 and Calibration(bias=-1e6)() < 1e-20


def test_cli_applies_the_default_cut(demo_index: Path) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["search", str(demo_index), "ancient amphitheatre", "--no-server"]) == 0
    assert "no results with relevance" in out.getvalue() and "--min-score 0" in out.getvalue()
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["search", str(demo_index), "ancient amphitheatre", "--no-server",
                     "--min-score", "0"]) == 0
    assert "relevance 0.0" in out.getvalue()


def test_a_paraphrase_is_judged_by_its_meaning() -> None:
    """No word in common with its answer (money back / refund): the dense estimate decides."""
    both = calibration_for("nyx-lite", "hybrid")
    assert both is not None and both(dense=0.5, share=0.0) < 0.05
    assert estimate("nyx-lite", "hybrid", dense=0.5, share=0.0) > DEFAULT_MIN_RELEVANCE
    assert estimate("nyx-lite", "hybrid", dense=0.27, share=0.0) < 0.05  # "ancient amphitheatre"
    assert estimate("clip:ViT-B-32", "hybrid", dense=0.9, share=0.9) is None
