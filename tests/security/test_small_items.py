"""Smaller hostile inputs: terminal control characters in ids, large files streamed."""

from __future__ import annotations

import json

import nyx.builder
import nyx.readers
from nyx.builder import build_index
from nyx.chunking import chunk_text
from nyx.cli.index import main
from nyx.retriever import Retriever
from tests.security.conftest import options


def test_control_characters_in_ids_are_escaped_when_printed(lite, tmp_path, capsys):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    evil = "evil\x1b[2J\x1b]0;pwned\x07\rid"
    (corpus / "r.jsonl").write_text(json.dumps({"id": evil, "text": "boats float"}) + "\n")
    build_index(corpus, out, options(lite))
    assert main(["search", str(out), "boats", "--mode", "lexical"]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\x07" not in printed and "\r" not in printed
    assert "evil\\x1b[2J\\x1b]0;pwned\\x07\\rid" in printed


def test_a_large_text_file_is_streamed_in_bounded_batches(lite, tmp_path, monkeypatch):
    monkeypatch.setattr(nyx.readers, "STREAM_BYTES", 4096)
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    paragraph = ("Tides follow the moon and the sun. Sailors read them in tables. " * 6).strip()
    text = "\n\n".join(f"{paragraph} Paragraph {i}." for i in range(120))
    (corpus / "big.txt").write_bytes(text.encode() + b"\n\n\xff trailing bytes")
    seen_batches = []
    original = nyx.builder._add_batch

    def recording(retriever, batch, *args):
        seen_batches.append(sum(len(group) for _, group in batch))
        return original(retriever, batch, *args)

    monkeypatch.setattr(nyx.builder, "_add_batch", recording)
    s = build_index(corpus, out, options(lite, shard_size=16))
    assert max(seen_batches) <= 16 and len(seen_batches) > 3
    assert s.documents == sum(seen_batches) >= len(chunk_text(text)) - 1
    assert any("replacement character" in note for _, note in s.notes)
    with Retriever.load(out) as r:
        ids = [f"big.txt#{i}" for i in range(s.documents)]
        assert all(item is not None for item in r.get(ids))
