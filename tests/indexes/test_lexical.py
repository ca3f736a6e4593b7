from __future__ import annotations

import json

import bm25s
import numpy as np
import pytest

from nyx.indexes import BM25Config, LexicalIndex, Tokenizer, TokenizerConfig
from nyx.indexes.tokenize import stemmer_available

CORPUS = [
    "The Amazon rainforest produces a large share of the oxygen released by land plants.",
    "Photosynthesis converts sunlight, water and carbon dioxide into glucose and oxygen.",
    "Coral reefs are built by colonies of tiny animals called polyps.",
    "Rising ocean temperatures cause coral bleaching across the Great Barrier Reef.",
    "The Great Wall of China stretches for thousands of kilometres across northern China.",
    "Marco Polo described his travels through China in a famous book.",
    "The printing press, invented by Gutenberg, made books cheap and common in Europe.",
    "Paper was first made in China during the Han dynasty.",
    "A black hole is a region of space where gravity is so strong that light cannot escape.",
    "The first image of a black hole was captured by the Event Horizon Telescope in 2019.",
    "Neutron stars are the collapsed cores of massive stars after a supernova.",
    "The James Webb Space Telescope observes the universe in infrared light.",
    "Jupiter is the largest planet in the solar system and has dozens of moons.",
    "Saturn's rings are made mostly of ice particles with some rock and dust.",
    "Mars has the tallest volcano in the solar system, Olympus Mons.",
    "The Moon's gravity causes the ocean tides on Earth.",
    "Python is a programming language known for readable code and large libraries.",
    "Rust prevents memory bugs at compile time through ownership and borrowing.",
    "SQLite stores an entire database in a single file on disk.",
    "A write-ahead log lets readers continue while a writer appends changes.",
    "Vector databases index embeddings for fast nearest neighbour search.",
    "BM25 ranks documents by term frequency, inverse document frequency and length.",
    "HNSW graphs give approximate nearest neighbour search with high recall.",
    "Inverted indexes map each term to the documents that contain it.",
    "Sourdough bread rises thanks to wild yeast and lactic acid bacteria.",
    "Espresso is brewed by forcing hot water through finely ground coffee.",
    "Green tea contains less caffeine than coffee but more than herbal tea.",
    "Olive oil is a staple of the Mediterranean diet.",
    "Honey bees pollinate many of the crops that humans eat.",
    "Monarch butterflies migrate thousands of kilometres to Mexico every winter.",
    "Octopuses can change the colour and texture of their skin to hide from predators.",
    "Whales communicate over long distances with low frequency songs.",
    "The violin has four strings tuned in perfect fifths.",
    "Beethoven kept composing music after he had lost his hearing.",
    "Jazz grew out of blues and ragtime in New Orleans.",
    "The piano can play both loud and soft notes, which gave it its name.",
    "Coffee plants grow best in tropical highlands with steady rain.",
    "Light from the Sun takes about eight minutes to reach Earth.",
]
IDS = [f"s{i:02d}" for i in range(len(CORPUS))]
QUERIES = [
    "black hole light",
    "coffee caffeine tea",
    "China paper books",
    "ocean coral temperature reef",
    "nearest neighbour search index",
    "solar system planet moons gravity",
    "music composer piano strings",
    "the of and",  # stopwords only
    "quantum chromodynamics",  # no overlap
]


def bm25s_reference(index: LexicalIndex) -> bm25s.BM25:
    retriever = bm25s.BM25(k1=index.config.k1, b=index.config.b, method="lucene")
    retriever.index([index.tokenizer(text) for text in CORPUS], show_progress=False)
    return retriever


def test_scores_and_rankings_match_bm25s():
    index = LexicalIndex()
    index.add(IDS, CORPUS)
    reference = bm25s_reference(index)
    for query in QUERIES:
        tokens = [t for t in index.tokenizer(query) if t in reference.vocab_dict]
        expected = reference.get_scores(tokens) if tokens else np.zeros(len(IDS))
        np.testing.assert_allclose(index.get_scores(query, IDS), expected, rtol=1e-5, atol=1e-6)
        hits = index.search([query], 5)[0]
        ranked = np.argsort(-expected, kind="stable")
        want = [IDS[j] for j in ranked if expected[j] > 0][:5]
        assert [h.id for h in hits] == want, query
        np.testing.assert_allclose(
            [h.score for h in hits], sorted(expected, reverse=True)[: len(hits)], rtol=1e-5
        )


def test_incremental_add_and_delete_equals_building_from_scratch():
    incremental = LexicalIndex()
    for start in range(0, len(CORPUS), 7):
        incremental.add(IDS[start : start + 7], CORPUS[start : start + 7])
    incremental.add(["extra-1", "extra-2"], ["coffee coffee coffee", "black holes and light"])
    assert incremental.delete(["extra-1", "extra-2", "s03", "s10", "unknown"]) == 4
    incremental.add(["s05"], ["Marco Polo wrote about coffee in China"])  # replace

    final = {doc_id: text for doc_id, text in zip(IDS, CORPUS) if doc_id not in {"s03", "s10"}}
    final["s05"] = "Marco Polo wrote about coffee in China"
    scratch = LexicalIndex()
    scratch.add(list(final), list(final.values()))

    assert incremental.ids() == scratch.ids() and incremental.count() == len(final)
    for query in QUERIES:
        got, want = incremental.search([query], 10)[0], scratch.search([query], 10)[0]
        assert [h.id for h in got] == [h.id for h in want]
        np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-12)


def test_compaction_keeps_scores():
    index = LexicalIndex()
    many = [f"filler {i} coffee" for i in range(1500)]
    index.add([f"f{i}" for i in range(1500)], many)
    index.add(IDS, CORPUS)
    before = index.search(["coffee tea"], 5)[0]
    index.delete([f"f{i}" for i in range(1500)])  # more than half the slots -> compaction
    assert len(index._slot_ids) == len(IDS)
    scratch = LexicalIndex()
    scratch.add(IDS, CORPUS)
    assert index.search(["coffee tea"], 5) == scratch.search(["coffee tea"], 5)
    assert before != index.search(["coffee tea"], 5)[0]  # idf changed with the corpus


def test_allowed_ids_restricts_candidates():
    index = LexicalIndex()
    index.add(IDS, CORPUS)
    allowed = ["s25", "s26", "s36", "nonexistent"]
    hits = index.search(["coffee"], 10, allowed_ids=allowed)[0]
    assert {h.id for h in hits} == {"s25", "s26", "s36"}
    assert index.search(["coffee"], 10, allowed_ids=[])[0] == []
    # the pairs the retriever ranks with are the same hits, in the same order
    queries = ["coffee", "neutron star", "zzz unknown"]
    assert index.search_pairs(queries, 10, allowed_ids=allowed) == [
        [(h.id, h.score) for h in hits] for hits in index.search(queries, 10,
                                                                 allowed_ids=allowed)]


def test_save_and_load_round_trip(tmp_path):
    index = LexicalIndex(BM25Config(k1=1.2, b=0.6))
    index.add(IDS, CORPUS)
    index.delete(["s00"])
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.config.k1 == 1.2 and loaded.ids() == index.ids()
    assert loaded.search(QUERIES, 4) == index.search(QUERIES, 4)
    head = json.loads((tmp_path / "lexical.json").read_text(encoding="utf-8"))
    assert head["format_version"] == 2
    # lexical.json and the six files it names; no temp or scratch files left
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["lexical.json", *head["files"].values()])
    loaded.save(tmp_path)  # saved over itself while its old files are mapped
    assert LexicalIndex.load(tmp_path).search(QUERIES, 4) == index.search(QUERIES, 4)
    assert len(list(tmp_path.iterdir())) == 7  # the first save's files are gone


def test_tokenizer_lowercases_splits_unicode_and_drops_stopwords():
    tokenize = Tokenizer(TokenizerConfig(stem=False))
    assert tokenize("The Café didn't OPEN in 2019; naïve users were-waiting!") == [
        "café",
        "open",
        "2019",
        "naïve",
        "users",
        "waiting",
    ]
    assert Tokenizer(TokenizerConfig(stopwords=False, stem=False))("The cat") == ["the", "cat"]


def test_errors():
    index = LexicalIndex()
    with pytest.raises(ValueError, match="list of strings"):
        index.search("coffee", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 ids but 1 texts"):
        index.add(["a", "b"], ["only one"])
    with pytest.raises(FileNotFoundError, match="lexical.json"):
        LexicalIndex.load("/nonexistent-folder")


@pytest.mark.skipif(stemmer_available(), reason="PyStemmer is installed")
def test_stemming_without_pystemmer_says_what_to_install():
    assert Tokenizer().config.stem is False  # "auto" resolved to no stemming
    with pytest.raises(ImportError, match="pip install PyStemmer"):
        Tokenizer(TokenizerConfig(stem=True))


def test_format_1_files_still_load(tmp_path):
    """``lexical.json`` as every release before memory-mapped postings wrote it: the whole
    state in one JSON document. It loads, and the next save writes the new format."""
    import dataclasses

    index = LexicalIndex()
    index.add(["a", "b", "c", "d"], ["Paris is in France", "naïve café, déjà vu", "", "x y"])
    index.delete(["c"])
    docs = [[i, c] for i, c in zip(["a", "b", "d"], index.term_counts(["a", "b", "d"]))]
    (tmp_path / "lexical.json").write_text(json.dumps(
        {"format_version": 1, "config": dataclasses.asdict(index.config), "documents": docs},
        ensure_ascii=False) + "\n", encoding="utf-8")
    again = LexicalIndex.load(tmp_path)
    assert again.count() == 3 and again.search(["France"], 1)[0][0].id == "a"
    assert again.search(QUERIES + ["naive cafe"], 3) == index.search(QUERIES + ["naive cafe"], 3)
    again.save(tmp_path)
    assert json.loads((tmp_path / "lexical.json").read_text())["format_version"] == 2
    assert LexicalIndex.load(tmp_path).term_counts(["b", "a"]) == index.term_counts(["b", "a"])
