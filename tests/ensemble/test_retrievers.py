"""Retriever modules: Nyx's Retriever (real nyx-lite), BM25 alone, fusion and reranking."""

from __future__ import annotations

import pytest

from nyx.ensemble import (
    BM25Retriever,
    Corpus,
    CrossEncoderReranker,
    FusedRetriever,
    NyxRetriever,
    RerankedRetriever,
    SearchTool,
)

TESLA = "In what year was Nikola Tesla born?"


def test_bm25_ranks_and_filters(bm25):
    docs = bm25.retrieve(TESLA, k=5)
    assert len(docs) == 5 and docs[0].metadata["title"] == "Nikola Tesla"
    assert [d.score for d in docs] == sorted((d.score for d in docs), reverse=True)
    only = bm25.retrieve("born", k=5, filter={"title": "Warsaw"})
    assert all(d.metadata["title"] == "Warsaw" for d in only)
    assert bm25.fetch("3-0").text.startswith("Nikola Tesla")
    assert bm25.fetch("missing") is None
    with pytest.raises(ValueError, match="k must be a positive integer"):
        bm25.retrieve(TESLA, k=0)
    with pytest.raises(ValueError, match="non-empty"):
        bm25.retrieve("  ")


def test_corpus_shapes_and_errors(tmp_path):
    corpus = Corpus({"a": "text a", "b": {"text": "text b", "title": "B", "image": "b.png"}})
    assert corpus.doc("b").images == ["b.png"] and corpus.doc("b").metadata == {"title": "B"}
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "x", "text": "hello"}\n{"id": "y", "text": "world"}\n')
    assert Corpus.from_file(path).ids() == ["x", "y"]
    with pytest.raises(ValueError, match="appears twice"):
        Corpus([{"id": "x", "text": "1"}, {"id": "x", "text": "2"}])
    with pytest.raises(FileNotFoundError, match="no corpus file"):
        Corpus.from_file(tmp_path / "none.json")
    assert Corpus({"a": "1"}).fingerprint != Corpus({"a": "2"}).fingerprint


def test_nyx_retriever_module(nyx_retriever):
    for mode in ("auto", "dense"):
        nyx_retriever.mode = mode
        docs = nyx_retriever.retrieve(TESLA, k=3)
        assert docs[0].metadata["title"] == "Nikola Tesla"
        assert docs[0].dense_score is not None
    nyx_retriever.mode = "auto"
    assert nyx_retriever.fetch("3-0").text.startswith("Nikola Tesla")
    assert nyx_retriever.cache_id.startswith("nyx:")
    identity = nyx_retriever.identity()
    assert identity["encoder"] == "nyx-lite" and identity["mode"] == "auto"
    assert identity["passages"]  # what is indexed, not the Retriever object
    with pytest.raises(ValueError, match="exactly one of"):
        NyxRetriever()


def test_fused_retrievers(nyx_retriever, bm25):
    for method in ("rrf", "combsum", "combmnz", "entropy"):
        fused = FusedRetriever([nyx_retriever, bm25], method=method, candidates=10)
        docs = fused.retrieve(TESLA, k=4)
        assert len(docs) == 4 and len({d.id for d in docs}) == 4
        assert docs[0].metadata["title"] == "Nikola Tesla"
        assert docs[0].metadata["fusion"] == method
    rrf = FusedRetriever([nyx_retriever, bm25], candidates=10).retrieve(TESLA, k=1)[0]
    assert rrf.score <= 2 / 61 + 1e-9  # at best rank 1 in both runs
    with pytest.raises(ValueError, match="unknown fusion method"):
        FusedRetriever([bm25], method="borda")


def test_search_tool_over_a_nyx_retriever(nyx_retriever):
    tool = SearchTool(nyx_retriever.load())  # a bare Nyx Retriever is wrapped
    result = tool.search(TESLA, k=2)
    assert result["results"][0]["metadata"]["title"] == "Nikola Tesla"


def test_cross_encoder_reranked_retriever(bm25):
    try:
        reranker = CrossEncoderReranker().load()
    except ImportError as error:
        pytest.skip(str(error))
    reranked = RerankedRetriever(bm25, reranker, candidates=6)
    docs = reranked.retrieve("What was Maria Curie the first female recipient of?", k=2)
    assert docs[0].id == "1-0"  # the gold paragraph ("...first female recipient...")
    assert docs[0].first_stage_score is not None
    assert isinstance(BM25Retriever(Corpus({"a": "x"})).retrieve("x", k=3), list)


def test_bm25_filters_use_the_nyx_filter_grammar(bm25):
    both = bm25.retrieve("born", k=20, filter={"title": {"any": ["Warsaw", "Nikola Tesla"]}})
    assert {d.metadata["title"] for d in both} == {"Warsaw", "Nikola Tesla"}
    assert bm25.retrieve("born", k=5, filter={"title": "Nowhere"}) == []
    with pytest.raises(ValueError, match="bare list"):
        bm25.retrieve("born", k=5, filter={"title": ["Warsaw"]})


def test_entropy_fusion_cache_key_names_its_confidence_measure(bm25):
    from nyx.ensemble.retrievers.fused import FusedRetriever
    from nyx.fusion import ENTROPY_CONFIDENCE

    entropy = FusedRetriever([bm25, bm25], method="entropy")
    # results of the old measure are not reused
    assert entropy.identity()["entropy_confidence"] == ENTROPY_CONFIDENCE
    assert "entropy_confidence" not in FusedRetriever([bm25, bm25], method="rrf").identity()


def test_retrieve_batches_and_takes_the_search_options(nyx_retriever, bm25):
    """A list of queries is one list of hits each (Nyx ranks them in one search); the search
    options reach a Nyx retriever whole, and a text-only module refuses what it cannot do."""
    from nyx.ensemble.errors import UnsupportedSearchError
    from nyx.search_options import SearchOptions

    queries = [TESLA, "Where is Warsaw?"]
    for module in (nyx_retriever, bm25):
        batch = module.retrieve(queries, k=3)
        assert [[h.id for h in hits] for hits in batch] == \
            [[h.id for h in module.retrieve(q, k=3)] for q in queries]
    lexical = nyx_retriever.retrieve(TESLA, k=3, options=SearchOptions(mode="lexical"))
    assert lexical and all(h.dense_score is None for h in lexical)
    with pytest.raises(UnsupportedSearchError, match="one search mode"):
        bm25.retrieve(TESLA, k=3, options=SearchOptions(mode="dense"))
    with pytest.raises(UnsupportedSearchError, match="cannot rerank"):
        bm25.retrieve(TESLA, k=3, options=SearchOptions(rerank=5))
