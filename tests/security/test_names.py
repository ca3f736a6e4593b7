"""Names and record fields that are not valid UTF-8 cost their own file or record, shown
escaped in the summary; they never stop a build or block later updates."""

from __future__ import annotations

import json
import os

from nyx.builder import build_index
from nyx.retriever import Retriever
from tests.security.conftest import options


def _ids(out) -> set[str]:
    with Retriever.load(out) as retriever:
        return set(retriever.store.ids())


def test_a_file_or_folder_name_that_is_not_utf8_is_one_summary_line(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("Ships sail at dawn.")
    bad = os.fsencode(corpus) + b"/bad-\xff.txt"
    with open(bad, "wb") as handle:
        handle.write(b"Harbours shelter boats.")
    os.mkdir(os.fsencode(corpus) + b"/dir-\xfe")
    with open(os.fsencode(corpus) + b"/dir-\xfe/inside.txt", "wb") as handle:
        handle.write(b"Anchors hold.")
    summary = build_index(corpus, out, options(lite))
    assert ("bad-\\xff.txt", "the name is not valid UTF-8: rename it to index it") in \
        summary.skipped
    assert any(rel == "dir-\\xfe" for rel, _ in summary.skipped)
    assert _ids(out) == {"ok.txt#0"}
    (corpus / "more.txt").write_text("Lighthouses guide ships.")  # later updates still work
    build_index(corpus, out, options(lite))
    assert _ids(out) == {"ok.txt#0", "more.txt#0"}


def test_lone_surrogates_in_a_record_cost_that_record_only(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    lines = ['{"id": "x\\ud800y", "text": "lone surrogate in the id"}',
             '{"id": "k", "text": "in a key", "metadata": {"k\\udc00": "v"}}',
             '{"id": "v", "text": "in a value", "metadata": {"k": ["v\\udfff"]}}',
             '{"id": "t", "text": "in the text \\ud83d"}',
             json.dumps({"id": "fine", "text": "a fine record"})]
    (corpus / "r.jsonl").write_text("\n".join(lines) + "\n")
    summary = build_index(corpus, out, options(lite))
    notes = [note for rel, note in summary.notes if rel == "r.jsonl"]
    assert len(notes) == 4 and all("not valid Unicode" in n for n in notes), notes
    assert "x\\ud800y" in notes[0] and "metadata.k[0]" in notes[2]
    assert _ids(out) == {"fine"}
