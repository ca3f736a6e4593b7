"""No lost updates: a save over a newer generation is refused; a delete is undone by a build."""

from __future__ import annotations

import pytest

from nyx.builder import build_index
from nyx.indexes import StaleIndexError
from nyx.retriever import Retriever
from tests.security.conftest import options


def _corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Apples grow on trees.")
    (corpus / "b.txt").write_text("Bananas grow in bunches.")
    return corpus


def test_second_save_from_an_older_load_is_refused(lite, tmp_path):
    out = tmp_path / "idx"
    build_index(_corpus(tmp_path), out, options(lite))
    first, second = Retriever.load(out, encoder=lite), Retriever.load(out, encoder=lite)
    try:
        first.add(["Cherries are red."], source="api")
        first.save(out)
        second.delete(["a.txt#0"])
        with pytest.raises(StaleIndexError, match="load the index again"):
            second.save(out)
        first.add(["Dates are sweet."])
        first.save(out)  # the writer that is up to date may save again
    finally:
        first.close()
        second.close()
    with Retriever.load(out) as r:
        assert r.count() == 4


def test_build_restores_files_whose_documents_were_deleted(lite, tmp_path):
    corpus, out = _corpus(tmp_path), tmp_path / "idx"
    build_index(corpus, out, options(lite))
    with Retriever.load(out) as r:
        assert r.delete(["a.txt#0"]) == 1
        r.save(out)
    summary = build_index(corpus, out, options(lite))
    assert summary.added == ["a.txt"] and summary.documents == 2
    with Retriever.load(out) as r:
        assert r.get(["a.txt#0"])[0] is not None


def test_an_id_collision_is_resolved_when_its_holder_goes_away(lite, tmp_path):
    """a.jsonl {X}, b.jsonl {X, Y}: a holds X. Remove a.jsonl: the next build indexes b's X."""
    import json

    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text(json.dumps({"id": "X", "text": "X from a"}) + "\n")
    (corpus / "b.jsonl").write_text(json.dumps({"id": "X", "text": "X from b"}) + "\n"
                                    + json.dumps({"id": "Y", "text": "Y from b"}) + "\n")
    first = build_index(corpus, out, options(lite))
    assert first.collided == ["b.jsonl"]
    assert any(rel == "b.jsonl" and "already used by a.jsonl" in n for rel, n in first.notes)
    again = build_index(corpus, out, options(lite))  # nothing changed: still reported
    assert again.collided == ["b.jsonl"] and any(rel == "b.jsonl" for rel, _ in again.notes)
    (corpus / "a.jsonl").unlink()
    after = build_index(corpus, out, options(lite))
    assert after.collided == [] and after.removed == ["a.jsonl"]
    with Retriever.load(out, encoder=lite) as retriever:
        assert set(retriever.store.ids()) == {"X", "Y"}
        assert "X from b" in json.dumps(retriever.store.get("X").payload)
        assert retriever.store.get("X").source == "b.jsonl"
    assert build_index(corpus, out, options(lite)).collided == []
