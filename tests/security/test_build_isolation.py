"""One bad item costs that item only: every bad input is a line in the summary, the rest is
indexed. Ids cannot collide silently and a record cannot claim another file as its source."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from nyx.builder import build_index
from nyx.retriever import Retriever
from tests.security.conftest import options


def _jsonl(path: Path, *records: object) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in records))


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_each_bad_input_is_reported_and_the_rest_indexed(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    (corpus / "good.txt").write_text("Lighthouses guide ships along the coast.")
    (corpus / "fake.jpg").write_text("this is not an image")
    Image.new("RGB", (32, 32), "white").save(corpus / "white.png")
    _jsonl(corpus / "records.jsonl",
           {"id": "fine", "text": "Otters hold hands while they sleep."},
           {"id": "num", "text": 123},
           {"id": "list", "text": ["a", "b"]},
           {"id": "imgnum", "text": "x", "images": [123]},
           {"id": "nan", "text": "x", "metadata": {"score": float("nan")}},
           {"id": "fine", "text": "the same id again"},
           {"id": "notimg", "text": "a record with a fake picture", "images": ["fake.jpg"]},
           "[" * 50_000 + "]" * 50_000,
           {"id": "deepmeta", "text": "x", "metadata": {"a": _nested(40)}})
    (corpus / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (corpus / "doc.md").write_text("# Sea\n\nWaves.\n\n![fake](fake.jpg)\n")
    deep = corpus / "tree"
    for _ in range(1_100):  # os.makedirs recurses; build it one level at a time
        deep.mkdir()
        deep = deep / "d"
    deep.mkdir()
    (deep / "bottom.txt").write_text("very deep")

    try:
        s = build_index(corpus, out, options(lite))
    finally:  # shutil.rmtree (and pytest's clean-up) recurse: remove the tree bottom-up
        (deep / "bottom.txt").unlink()
        while deep != corpus:
            deep.rmdir()
            deep = deep.parent
    notes = "\n".join(f"{rel}: {note}" for rel, note in s.notes)
    skipped = dict(s.skipped)
    assert "text must be a string, got int" in notes
    assert "text must be a string, got list" in notes
    assert "images must be a list of paths" in notes
    assert "NaN" in notes and "nested more than" in notes
    assert "repeats an earlier record" in notes
    assert "fake.jpg: corrupt or unreadable image" in notes  # jsonl and markdown
    assert "JSON nested too deeply" in notes
    assert "nested too deeply" in skipped["deep.json"]
    assert "corrupt" in skipped["fake.jpg"]
    assert any("deeper than" in reason for reason in skipped.values())
    with Retriever.load(out) as r:
        ids = {d.id for batch in r.store.iter_documents(100) for d in batch}
    assert {"good.txt#0", "white.png", "fine", "notimg", "doc.md#0"} <= ids
    assert not {"num", "list", "imgnum", "nan", "deepmeta"} & ids


def test_id_collisions_are_reported_never_silent(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Apples grow on trees.")
    _jsonl(corpus / "b.jsonl", {"id": "a.txt#0", "text": "an impostor"},
           {"id": "shared", "text": "first holder of the id"})
    _jsonl(corpus / "c.jsonl", {"id": "shared", "text": "second claim on the id"},
           {"id": "own", "text": "a record of its own"})
    s = build_index(corpus, out, options(lite))
    notes = [(rel, note) for rel, note in s.notes if "already used" in note]
    assert ("b.jsonl", "id 'a.txt#0' is already used by a.txt; this document was skipped "
            "(ids must be unique across the corpus)") in notes
    assert any(rel == "c.jsonl" and "'shared' is already used by b.jsonl" in note
               for rel, note in notes)
    with Retriever.load(out) as r:
        a, shared, own = r.get(["a.txt#0", "shared", "own"])
        assert a is not None and "Apples" in a.text
        assert shared is not None and shared.text == "first holder of the id"
        assert own is not None
    assert s.documents == 3  # a.txt#0, shared (from b.jsonl), own


def test_a_record_cannot_claim_another_source(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    (corpus / "good.txt").write_text("Good text about rivers.")
    _jsonl(corpus / "r.jsonl", {"id": "spoof", "text": "a record about lakes",
                                "metadata": {"source": "good.txt", "kind": "text"}})
    s = build_index(corpus, out, options(lite))
    assert any("metadata kind, source ignored" in note for _, note in s.notes)
    (corpus / "good.txt").write_text("Good text about rivers, edited.")
    build_index(corpus, out, options(lite))
    with Retriever.load(out) as r:
        (spoof,) = r.get(["spoof"])
        assert spoof is not None and spoof.metadata["source"] == "r.jsonl"
        assert r.store.ids_for_source("r.jsonl") == ["spoof"]
