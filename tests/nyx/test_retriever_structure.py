"""The Retriever's parts: one constructor path, ids in one module, images in the media store."""

from __future__ import annotations

import pytest

from nyx import Item, Retriever
from nyx.ids import SEPARATOR, check_document_ids, document_id, vector_ids


def test_vector_ids_round_trip() -> None:
    assert vector_ids("notes.md#0", 1) == ["notes.md#0"]
    chunks = vector_ids("notes.md#0", 3)
    assert chunks == [f"notes.md#0{SEPARATOR}{n}" for n in range(3)]
    assert {document_id(v) for v in chunks} == {"notes.md#0"}
    assert document_id("plain") == "plain"


def test_ids_with_the_separator_are_refused_by_name() -> None:
    check_document_ids(["a", "b c", "d#1"])
    with pytest.raises(ValueError, match=r"U\+001F.*'x\\x1f2'.*rename"):
        check_document_ids(["ok", "x\x1f2"])


def test_load_and_init_set_the_same_attributes(lite, tmp_path) -> None:
    """``Retriever.load`` and ``Retriever()`` go through one constructor path, so an attribute
    added to one cannot be missing from the other."""
    built = Retriever(lite)
    built.add([Item(["a note about cats"], id="cats"), Item(["word " * 900], id="long")])
    built.save(tmp_path / "index")
    loaded = Retriever.load(tmp_path / "index")
    try:
        assert set(vars(loaded)) == set(vars(built))
        assert loaded.loaded_from == ((tmp_path / "index").resolve(), "gen-000001")
        assert not loaded.encoder_loaded  # a loaded index loads its encoder on first use
        assert loaded.encoder_spec() == built.encoder_spec() == ("nyx-lite", {})
        assert loaded.search("cats", k=1)[0].id == "cats"
        assert loaded.encoder_loaded
    finally:
        built.close()
        loaded.close()
