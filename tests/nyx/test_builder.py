"""nyx-index builds: incremental updates, bad input, locking, and surviving SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from nyx import load_encoder
from nyx.builder import CACHE_DIR, SPILL_DIR, BuildOptions, build_index
from nyx.embedding_cache import EmbeddingCache
from nyx.indexes import EncoderMismatchError, IndexLockedError, LexicalIndex
from nyx.retriever import Retriever
from nyx.verify import verify_index

TOPICS = ["volcanoes erupt molten rock", "bees make honey from nectar",
          "glaciers carve deep valleys", "violins have four strings",
          "chess openings control the centre", "bread rises because of yeast",
          "owls hunt at night", "tides follow the moon", "copper conducts electricity",
          "penguins live in the southern hemisphere"]


def write_corpus(root: Path, n: int, offset: int = 0) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(offset, offset + n):
        topic = TOPICS[i % len(TOPICS)]
        (root / f"doc{i:03d}.txt").write_text(
            f"Note {i}. In short, {topic}. This is fact number {i} of the collection, about "
            f"{topic.split()[0]} and related matters.")


def options(lite, **kw) -> BuildOptions:
    return BuildOptions(model=lite, show_progress=False, **kw)


def test_incremental_rebuild_touches_only_changes(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, 6)
    (corpus / "notes.md").write_text("# Honey\n\nBees dance to show where flowers are.\n")
    first = build_index(corpus, out, options(lite))
    assert len(first.added) == 7 and first.embedded == 7 and first.documents == 7

    (corpus / "doc001.txt").write_text("Note 1 changed: zebras have black and white stripes.")
    (corpus / "doc002.txt").unlink()
    (corpus / "extra.jsonl").write_text(json.dumps(
        {"id": "r1", "text": "Octopuses have three hearts.", "metadata": {"lang": "en"}}) + "\n")
    second = build_index(corpus, out, options(lite))
    assert second.updated == ["doc001.txt"]
    assert second.removed == ["doc002.txt"]
    assert second.added == ["extra.jsonl"]
    assert second.unchanged == 5 and second.embedded == 2 and second.documents == 7

    with Retriever.load(out, encoder=lite) as r:
        assert r.search("zebra stripes", k=1)[0].id == "doc001.txt#0"
        assert r.search("how many hearts does an octopus have", k=1)[0].id == "r1"
        assert "doc002.txt#0" not in {h.id for h in r.search("glaciers valleys", k=7)}
        assert r.search("hearts", k=3, filter={"lang": "en"})[0].id == "r1"
    assert verify_index(out).ok

    third = build_index(corpus, out, options(lite))
    assert third.embedded == 0 and third.generation == second.generation


def test_an_upgraded_encoder_re_embeds_everything(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, 4)
    first = build_index(corpus, out, options(lite))
    # As if an older release had built it: same encoder name, another version.
    generation = out / first.generation
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["encoder"]["version"] = "0.0;an-older-nyx-lite"
    (generation / "manifest.json").write_text(json.dumps(manifest))

    second = build_index(corpus, out, options(lite))
    assert second.embedded == 4 and len(second.added) == 4 and second.documents == 4
    assert second.generation != first.generation
    assert any("0.0;an-older-nyx-lite -> " in note for _, note in second.notes)
    with Retriever.load(out) as r:
        assert r.encoder.version == lite.version
        assert r.search("glaciers", k=1, mode="dense")
    assert verify_index(out).ok
    # Another encoder is not an upgrade: that needs a new index.
    with pytest.raises(EncoderMismatchError, match="build a new index folder"):
        build_index(corpus, out, options(load_encoder("nyx-lite", ocr=False)))


def test_bad_input_is_reported_not_fatal(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, 2)
    (corpus / "empty.txt").write_text("")
    (corpus / "latin1.txt").write_bytes("Caf\xe9 au lait is served warm.".encode("latin-1"))
    (corpus / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.new("1", (12000, 12000)).save(corpus / "huge.png")
    (corpus / "data.bin").write_bytes(b"\x00\x01")
    outside = tmp_path / "secret.txt"
    outside.write_text("must not be indexed")
    os.symlink(outside, corpus / "link.txt")
    (corpus / "records.jsonl").write_text('{"id": "ok", "text": "a fine record"}\n{not json}\n')

    s = build_index(corpus, out, options(lite))
    reasons = dict(s.skipped)
    assert reasons["empty.txt"] == "empty file"
    assert "corrupt" in reasons["broken.png"]
    assert "too large" in reasons["huge.png"]
    assert "unsupported" in reasons["data.bin"]
    assert "outside the corpus root" in reasons["link.txt"]
    notes = dict(s.notes)
    assert "not valid UTF-8" in notes["latin1.txt"]
    assert "line 2" in notes["records.jsonl"]
    assert s.documents == 4  # doc000, doc001, latin1, record "ok"
    with Retriever.load(out, encoder=lite) as r:
        assert "must not be indexed" not in {h.text for h in r.search("secret", k=4)}
        assert r.get(["latin1.txt#0"])[0].text.startswith("Caf\ufffd au lait")


def _hold_lock(path: Path) -> subprocess.Popen:
    code = ("import sys, time; from nyx.indexes import IndexLock; "
            "lock = IndexLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_gets_clear_lock_error(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, 2)
    out.mkdir()
    holder = _hold_lock(out)
    try:
        with pytest.raises(IndexLockedError, match=f"locked by PID {holder.pid}"):
            build_index(corpus, out, options(lite))
    finally:
        holder.kill()
        holder.wait()
    assert build_index(corpus, out, options(lite)).documents == 2  # free after the holder died


def test_sigkill_mid_build_keeps_old_index_and_rerun_completes(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, 5)
    build_index(corpus, out, options(lite))
    write_corpus(corpus, 300, offset=5)
    cmd = [sys.executable, "-m", "nyx.cli.index", "build", str(corpus), "-o", str(out),
           "--shard-size", "8", "--batch-size", "8", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = out / CACHE_DIR
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cache.glob("shard-*.npz"))) < 3:
        assert proc.poll() is None, "build finished before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(cache.glob("shard-*.npz"))) >= 3
    assert (out / SPILL_DIR).is_dir()  # the killed build's scratch files

    with Retriever.load(out, encoder=lite) as r:  # the previous generation, intact
        assert r.count() == 5
    assert verify_index(out).ok

    s = build_index(corpus, out, options(lite))
    assert s.reused_from_cache >= 24 and s.embedded + s.reused_from_cache == 300
    assert s.documents == 305 and not cache.exists() and not (out / SPILL_DIR).exists()
    assert verify_index(out).ok


def test_a_build_never_reads_back_the_vectors_it_cached(lite, tmp_path, monkeypatch):
    """Shards are read only to resume a killed build: deleting the cache after a build read
    every shard first, holding all its vectors in memory once more at the build's end."""
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, 40)
    read: list[Path] = []
    original = EmbeddingCache._load
    monkeypatch.setattr(EmbeddingCache, "_load",
                        lambda self, shard: (read.append(shard), original(self, shard)))
    s = build_index(corpus, out, options(lite, shard_size=8))
    assert s.embedded == 40 and not (out / CACHE_DIR).exists()
    assert read == []


def test_an_index_built_with_another_analyzer_is_reanalysed_with_a_note(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, 4)
    first = build_index(corpus, out, options(lite))
    # Make the live generation look like one written by an older Nyx (no stemming, str.lower).
    lexical_file = Path(first.index) / first.generation / "lexical" / "lexical.json"
    state = json.loads(lexical_file.read_text())
    state["config"]["tokenizer"] = {"lowercase": True, "stopwords": True, "stem": False,
                                    "min_length": 2}
    saved = LexicalIndex.load(lexical_file.parent)
    state["documents"] = [[doc_id, {t.rstrip("s"): n for t, n in terms.items()}]
                          for doc_id, terms in zip(saved.ids(), saved.term_counts(saved.ids()))]
    for name in state.pop("files").values():  # format 1: every document in lexical.json
        (lexical_file.parent / name).unlink()
    state = {"format_version": 1, "config": state["config"], "documents": state["documents"]}
    lexical_file.write_text(json.dumps(state))
    manifest = lexical_file.parent.parent / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["analyzer"]  # older manifests did not record it
    manifest.write_text(json.dumps(data))
    with Retriever.load(out) as old:
        assert old.lexical is not None and old.lexical.analyzer_id().startswith("v1:lower")

    second = build_index(corpus, out, options(lite))
    assert second.reanalyzed and second.generation != first.generation
    assert second.embedded == 0 and not second.added and second.unchanged == 4
    assert any("lexical analyzer changed" in note and "nothing re-embedded" in note
               for _, note in second.notes)
    with Retriever.load(out) as r:
        assert r.manifest is not None
        assert r.manifest.analyzer == "v2:nfkc_casefold:stop-en:snowball-en:min2"
        assert r.search("erupting volcano", k=1, mode="lexical")[0].id == "doc000.txt#0"
    assert not build_index(corpus, out, options(lite)).reanalyzed  # settled


def test_a_bm25_index_that_disagrees_with_the_manifest_analyzer_is_refused(lite, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, 2)
    summary = build_index(corpus, out, options(lite))
    manifest = Path(summary.index) / summary.generation / "manifest.json"
    data = json.loads(manifest.read_text())
    assert data["analyzer"] == "v2:nfkc_casefold:stop-en:snowball-en:min2"
    data["analyzer"] = "v1:lower:stop-en:nostem:min2"
    manifest.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="lexical analyzer .* inconsistent"):
        Retriever.load(out)
