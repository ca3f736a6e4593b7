"""Retriever: modes, filters, chunking, deletes, persistence, encoder checks."""

from __future__ import annotations

import numpy as np
import pytest

from nyx import Item, load_encoder
from nyx.hybrid import HybridConfig, fuse_scores
from nyx.indexes import EncoderMismatchError
from nyx.retriever import Retriever
from tests.helpers import render_text, save, skimage_photo

DOCS = [
    Item(["The Eiffel Tower is a wrought-iron lattice tower in Paris."], {"city": "paris",
                                                                          "year": 1889}, "eiffel"),
    Item(["Big Ben is the nickname for the Great Bell of the clock in London."],
         {"city": "london", "year": 1859}, "bigben"),
    Item(["The Colosseum is an elliptical amphitheatre in the centre of Rome."],
         {"city": "rome", "year": 80}, "colosseum"),
    Item(["Tower Bridge crosses the River Thames in London."], {"city": "london", "year": 1894},
         "towerbridge"),
]


@pytest.fixture(scope="module")
def retriever(lite):
    r = Retriever(encoder=lite)
    r.add(DOCS)
    r.add([Item([skimage_photo("coffee")], {"city": "none"}, "coffee-photo")])
    yield r
    r.close()


def test_text_query_modes(retriever):
    for mode in ("dense", "lexical", "hybrid", "auto"):
        assert retriever.search("Where is the Colosseum?", k=1, mode=mode)[0].id == "colosseum"
    hit = retriever.search("bell clock london", k=1, mode="hybrid")[0]
    assert hit.id == "bigben" and hit.dense_score > 0 and hit.lexical_score > 0
    assert hit.document.text.startswith("Big Ben") and hit.metadata["year"] == 1859


def test_image_query_is_dense_and_finds_coffee(retriever):
    hits = retriever.search(skimage_photo("coffee"), k=2)
    assert hits[0].id == "coffee-photo" and hits[0].lexical_score is None
    assert retriever.search("a cup of espresso", k=1, mode="dense")[0].id == "coffee-photo"
    with pytest.raises(ValueError, match="needs a query with text"):
        retriever.search(skimage_photo("coffee"), mode="lexical")


def test_filters_equality_any_range(retriever):
    london = retriever.search("tower", k=5, filter={"city": "london"})
    assert {h.id for h in london} == {"bigben", "towerbridge"}
    some = retriever.search("tower", k=5, filter={"city": {"any": ["paris", "rome"]}})
    assert {h.id for h in some} == {"eiffel", "colosseum"}
    old = retriever.search("landmark", k=5, filter={"year": {"lt": 1860}}, mode="dense")
    assert {h.id for h in old} == {"bigben", "colosseum"}


def test_batch_queries_and_bad_k(retriever):
    out = retriever.search(["Paris tower", "Thames bridge"], k=1)
    assert [r[0].id for r in out] == ["eiffel", "towerbridge"]
    with pytest.raises(ValueError, match="k must be"):
        retriever.search("x", k=0)


def test_long_documents_are_chunked(lite):
    filler = " ".join(["The committee discussed budgets and schedules at length."] * 40)
    long_doc = Item([filler + " Finally, the secret ingredient of the soup is saffron."],
                    id="long")
    r = Retriever(encoder=lite, max_words=60)
    r.add([long_doc, Item(["Soup recipes often use onions and carrots."], id="short")])
    assert r.index.count() > r.count() == 2
    assert r.search("saffron soup ingredient", k=1, mode="dense")[0].id == "long"
    assert r.delete(["long"]) == 1 and r.index.count() == 1
    r.close()


def test_image_text_is_indexed_lexically(lite, tmp_path):
    path = save(render_text("Platform 9 closed for maintenance until Friday"),
                tmp_path / "sign.png")
    r = Retriever(encoder=lite)
    r.add([Item([path], id="sign"), Item(["Trains run every ten minutes."], id="trains")])
    hit = r.search("maintenance of the platform", k=1, mode="lexical")[0]
    assert hit.id == "sign" and "maintenance" in hit.text.lower()
    r.close()


def test_delete_replace_and_persist(lite, tmp_path):
    r = Retriever(encoder=lite)
    r.add(DOCS)
    r.add([Item(["The Eiffel Tower was built for the 1889 World's Fair."], id="eiffel")])
    assert r.count() == 4 and "World's Fair" in r.get(["eiffel"])[0].text
    assert r.delete(["bigben", "missing"]) == 1
    r.save(tmp_path / "idx")
    r.close()
    loaded = Retriever.load(tmp_path / "idx")
    assert loaded.count() == 3 and loaded.manifest.counts["documents"] == 3
    assert loaded.search("World's Fair", k=1)[0].id == "eiffel"
    assert loaded.get(["bigben"]) == [None]
    loaded.close()
    other = load_encoder("nyx-lite", ocr=False)
    with pytest.raises(EncoderMismatchError, match="built with encoder nyx-lite"):
        Retriever.load(tmp_path / "idx", encoder=other)


def test_loaded_index_loads_its_encoder_only_when_it_embeds(lite, tmp_path, monkeypatch):
    import json

    import nyx.retriever as retriever_module
    from nyx.verify import verify_index

    r = Retriever(encoder=lite)
    r.add(DOCS)
    r.save(tmp_path / "idx")
    r.close()

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    with monkeypatch.context() as patch:
        patch.setattr(retriever_module, "load_encoder", no_model)
        assert verify_index(tmp_path / "idx").ok
        with Retriever.load(tmp_path / "idx") as loaded:
            assert loaded.count() == len(DOCS) and "nyx-lite" in repr(loaded)
            assert loaded.search("Eiffel Tower", k=1, mode="lexical")[0].text
            assert loaded.delete(["colosseum"]) == 1
            loaded.save(tmp_path / "idx")  # deleting and saving need no model either
        assert verify_index(tmp_path / "idx").ok
    with Retriever.load(tmp_path / "idx") as loaded:  # dense search loads it, checked
        assert loaded.count() == len(DOCS) - 1
        assert len(loaded.search("a tower in Paris", k=2, mode="dense")) == 2
        assert loaded.encoder.version == lite.version

    generation = next((tmp_path / "idx").glob("gen-*"))
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["encoder"]["version"] = "some other model"
    (generation / "manifest.json").write_text(json.dumps(manifest))
    with Retriever.load(tmp_path / "idx") as loaded, pytest.raises(EncoderMismatchError):
        loaded.search("a tower in Paris", k=2, mode="dense")


def test_encoder_options_survive_save_and_load(tmp_path):
    no_ocr = load_encoder("nyx-lite", ocr=False)
    r = Retriever(encoder=no_ocr)
    r.add(DOCS[:2])
    r.save(tmp_path / "idx")
    r.close()
    with Retriever.load(tmp_path / "idx") as loaded:  # rebuilt with ocr=False, not refused
        assert loaded.encoder.version == no_ocr.version and "no-ocr" in no_ocr.version
        assert loaded.search("a bell in London", k=1, mode="dense")[0].id == "bigben"


def test_fusion_math_hand_computed():
    # dense [0.9, 0.5, 0.1] -> minmax [1, .5, 0]; lexical [0, 10, 5] -> [0, 1, .5]
    fused = fuse_scores(["a", "b", "c"], [0.9, 0.5, 0.1], [0.0, 10.0, 5.0],
                        HybridConfig(dense_weight=0.4, method="minmax"))
    # a: .4*1 + .6*0 = .4 ; b: .4*.5 + .6*1 = .8 ; c: .4*0 + .6*.5 = .3
    assert [i for i, _ in fused] == ["b", "a", "c"]
    assert [round(s, 6) for _, s in fused] == [0.8, 0.4, 0.3]
    rrf = fuse_scores(["a", "b"], [0.9, 0.1], [1.0, 2.0],
                      HybridConfig(method="rrf", dense_weight=0.5))
    # ties (1/61 + 1/62 each) break by the dense score
    assert [i for i, _ in rrf] == ["a", "b"]
    with pytest.raises(ValueError, match="dense_weight"):
        HybridConfig(dense_weight=1.5)


def test_a_list_of_queries_finds_what_each_query_finds_alone(lite):
    """A batch is one encode, one vector-index call and one BM25 call; each query's hits are
    those it gets searched alone, in every mode, with and without a filter."""
    from nyx.benchmarks.qdrant_hybrid import docstring_corpus, word_window_queries

    items = docstring_corpus(150)
    with Retriever(lite) as r:
        r.add(items)
        queries = word_window_queries(items, 12)
        for mode in ("hybrid", "lexical", "dense"):
            for flt in (None, {"kind": "class"}):
                together = r.search(queries, k=5, mode=mode, filter=flt)
                alone = [r.search(q, k=5, mode=mode, filter=flt) for q in queries]
                for a, b in zip(together, alone):
                    assert [h.id for h in a] == [h.id for h in b], (mode, flt)
                    assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-4)
