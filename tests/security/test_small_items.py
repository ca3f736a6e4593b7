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


def _words(items) -> list[str]:
    return [w for item in items for p in item.parts if isinstance(p, str) for w in p.split()]


def test_large_markdown_and_html_stream_like_text(tmp_path, monkeypatch):
    """Read block by block (a 4 KB block here): the same words in the same order as a whole
    read, every image reference intact however the blocks fall, HTML tags cut across blocks
    parsed right."""
    from PIL import Image

    from nyx.corpus import scan_corpus
    from nyx.readers import parse_source

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    Image.new("RGB", (12, 12), "blue").save(corpus / "dot.png")
    blue = (corpus / "dot.png").read_bytes()
    paragraph = "Tides follow the moon and the sun; sailors read them in tables."
    md = "\n\n".join(f"{paragraph} Part {i}. ![a blue dot number {i}](dot.png) Then more."
                     for i in range(150))
    html = "<html><body>" + "".join(f"<p>{paragraph} <b>Part</b> {i}.</p><script>var x={i};"
                                    "</script>" for i in range(200)) + "</body></html>"
    (corpus / "big.md").write_text(md)
    (corpus / "big.html").write_text(html)
    files = {f.rel: f for f in scan_corpus(corpus).files}
    whole = {rel: list(parse_source(files[rel], corpus.resolve()).items)
             for rel in ("big.md", "big.html")}
    monkeypatch.setattr(nyx.readers, "STREAM_BYTES", 4096)
    for rel in ("big.md", "big.html"):
        streamed = list(parse_source(files[rel], corpus.resolve()).items)
        assert _words(streamed) == _words(whole[rel]) and len(streamed) >= 3
        assert [item.id for item in streamed] == [f"{rel}#{i}" for i in range(len(streamed))]
    images = [p for item in parse_source(files["big.md"], corpus.resolve()).items
              for p in item.images]
    assert len(images) == 150 and all(p.source == blue for p in images)
    assert "var x" not in " ".join(_words(whole["big.html"]))


def test_markdown_and_html_are_read_a_block_at_a_time(tmp_path, monkeypatch):
    """Consuming the items of a 3 MB file never holds more than a few blocks of it (Python
    allocations, counted by tracemalloc): the whole text is never in memory at once."""
    import tracemalloc

    from nyx.corpus import scan_corpus
    from nyx.readers import parse_source

    monkeypatch.setattr(nyx.readers, "STREAM_BYTES", 64 * 1024)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    paragraph = "Tides follow the moon and the sun; sailors read them in tables. " * 4
    (corpus / "big.md").write_text("\n\n".join(f"## Part {i}\n\n{paragraph}" for i in range(10000)))
    (corpus / "big.html").write_text("".join(f"<p>{paragraph} {i}</p>" for i in range(11000)))
    for f in scan_corpus(corpus).files:
        assert f.size > 2_500_000
        tracemalloc.start()
        count = sum(1 for _ in parse_source(f, corpus.resolve()).items)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert count > 1000 and peak < 1_500_000, (f.rel, count, peak)


def test_a_jsonl_record_over_the_limit_is_skipped_before_it_is_decoded(lite, tmp_path,
                                                                       monkeypatch):
    import json

    monkeypatch.setattr(nyx.readers, "MAX_RECORD_BYTES", 4096)
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    lines = [json.dumps({"id": "small", "text": "Ships sail at dawn."}),
             json.dumps({"id": "huge", "text": "tide " * 5000}),
             json.dumps({"id": "after", "text": "Gulls follow the boats."})]
    (corpus / "r.jsonl").write_text("\n".join(lines) + "\n")
    summary = build_index(corpus, out, options(lite))
    (note,) = [n for rel, n in summary.notes if rel == "r.jsonl"]
    assert note.startswith("line 2: a record of 24.4 KB, more than the 4.0 KB one record")
    assert "line 2:" in note and "one record may hold" in note and "split its text" in note
    with Retriever.load(out) as retriever:
        assert set(retriever.store.ids()) == {"small", "after"}
