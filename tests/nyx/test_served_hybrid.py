"""Hybrid search served by Qdrant (qdrant-client local mode) against FAISS + the in-process BM25:
the same BM25 scores, the same top 10 with filters pushed down, and after updates."""

from __future__ import annotations

import numpy as np
import pytest

from nyx.benchmarks.qdrant_hybrid import agreement, docstring_corpus, word_window_queries
from nyx.indexes.qdrant_hybrid import QdrantHybrid, query_sparse
from nyx.retriever import Retriever

pytest.importorskip("qdrant_client")


@pytest.fixture(scope="module")
def pair(lite):
    items = docstring_corpus(200)
    local, served = Retriever(lite), Retriever(lite, index="qdrant")
    vectors = local.encode_for_add(items)
    local.add(items, vectors=vectors)
    served.add(items, vectors=vectors)
    yield local, served, items
    local.close()
    served.close()


def test_sparse_vectors_give_the_local_bm25_scores(pair):
    local, served, items = pair
    assert served.index.supports_sparse
    # the last query is all stop words: no document scores, on either side
    for query in [*word_window_queries(items, 20), "it is in the of"]:
        served.search(query, k=1)  # writes the sparse vectors on first use
        vector = local.encoder.encode_queries([query])[0]
        _, from_qdrant = QdrantHybrid(served.index, "_doc").candidates(
            vector, query_sparse(local.lexical.tokenizer(query)), 50, None)
        hits = local.lexical.search([query], 50)[0]
        # the same top 50, except documents tied with the 50th, which each breaks its own way
        cut = hits[-1].score if hits else 0.0
        differ = set(from_qdrant) ^ {h.id for h in hits}
        assert all(s == pytest.approx(cut, rel=1e-5) for s in
                   local.lexical.get_scores(query, sorted(differ)).tolist())
        for hit in hits:
            if hit.id in from_qdrant:
                assert from_qdrant[hit.id] == pytest.approx(hit.score, rel=1e-5, abs=1e-6)


def test_exact_fusion_matches_local_hybrid_search_with_filters(pair):
    local, served, items = pair
    assert served.index.config.hybrid == "exact"
    result = agreement(local, served, word_window_queries(items, 40))
    assert result.same_order == 1.0, result
    a = local.search("Return a new list", k=5, filter={"kind": "class"})
    b = served.search("Return a new list", k=5, filter={"kind": "class"})
    assert [h.id for h in a] == [h.id for h in b]
    assert all(h.metadata["kind"] == "class" for h in b)
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-5)


@pytest.mark.parametrize("fusion", ["formula", "rrf", "dbsf"])
def test_fusion_inside_qdrant_stays_close_to_local(pair, fusion):
    local, served, items = pair
    served.index.config.hybrid = fusion
    try:
        result = agreement(local, served, word_window_queries(items, 30))
    finally:
        served.index.config.hybrid = "exact"
    # measured on 1500 documents: benchmarks/results/qdrant-hybrid.md
    assert result.mean_overlap >= 0.8, result


def test_updates_and_deletes_keep_bm25_congruent(lite):
    local, served = Retriever(lite), Retriever(lite, index="qdrant")
    docs = ["bees make honey from nectar", "owls hunt at night", "glaciers carve valleys",
            "copper conducts electricity", "bread rises because of yeast"]
    for r in (local, served):
        r.add(docs)
        r.search("honey", k=2)
        r.add(["a much longer note about bees, hives, queens, drones and honey in summer"])
        r.delete([r.search("owls", k=1)[0].id])
    for query in ("honey bees", "night owls", "electricity"):
        a, b = local.search(query, k=5), served.search(query, k=5)
        assert [h.id for h in a] == [h.id for h in b]
        np.testing.assert_allclose([h.lexical_score or 0 for h in a],
                                   [h.lexical_score or 0 for h in b], rtol=1e-5, atol=1e-6)
    local.close()
    served.close()


def test_a_built_qdrant_index_serves_hybrid_search_after_loading(lite, tmp_path):
    from nyx.builder import BuildOptions, build_index
    from tests.nyx.test_builder import write_corpus

    corpus = tmp_path / "corpus"
    write_corpus(corpus, 20)
    for backend, params in (("faiss", {}), ("qdrant", {"path": str(tmp_path / "store")})):
        build_index(corpus, tmp_path / backend, BuildOptions(
            model=lite, backend=backend, backend_params=params, show_progress=False))
    with Retriever.load(tmp_path / "faiss") as local, \
            Retriever.load(tmp_path / "qdrant") as served:
        assert served.index.supports_sparse and served.index.sparse_avgdl is not None
        for query in ("bees honey", "fact number 7", "moon tides"):
            assert [h.id for h in local.search(query, k=5)] == \
                [h.id for h in served.search(query, k=5)]
        assert not served.sparse_sync.pending  # nothing rewritten: the build wrote the weights


def test_textless_images_are_scored_alike_when_qdrant_serves_the_search(lite):
    """Pictures nothing was read from get the same dense stand-in for their lexical half on
    the Qdrant-served (exact) path as in the local hybrid search."""
    from pathlib import Path

    from nyx import Item

    photos = sorted((Path(__file__).resolve().parents[2] / "nyx/data/demo_corpus/photos")
                    .iterdir())
    note = Item(["Photo printing: crop each photo and pick matte or glossy paper before you "
                 "print a photo."], id="printing.md")
    local, served = Retriever(lite), Retriever(lite, index="qdrant")
    try:
        for r in (local, served):
            r.add([note, *photos])
        for query in ("a photo of a cat", "print a photo"):
            a, b = local.search(query, k=3), served.search(query, k=3)
            assert [h.id for h in a] == [h.id for h in b]
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-5)
        assert served.search("a photo of a cat", k=1)[0].id == "chelsea-the-cat.jpg"
    finally:
        local.close()
        served.close()
