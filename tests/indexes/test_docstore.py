from __future__ import annotations

import signal
import sqlite3

import pytest

from nyx.indexes import DocStore, Document, SourceRecord, content_hash

from .conftest import run_python


def docs(n: int, source: str | None = None, prefix: str = "d") -> list[Document]:
    return [
        Document(
            id=f"{prefix}{i:03d}",
            payload={"text": f"document number {i}", "images": [f"img/{i}.png"]},
            metadata={"i": i, "lang": "en"},
            source=source,
        )
        for i in range(n)
    ]


def test_round_trip_preserves_order_and_reports_missing(tmp_path):
    with DocStore(tmp_path / "docs.sqlite") as store:
        assert store.put_many(docs(5, source="a.txt")) == 5
        got = store.get_many(["d003", "missing", "d000", "d003"])
        assert [d.id if d else None for d in got] == ["d003", None, "d000", "d003"]
        assert [d.id for d in store.get_many(["d004", "zz", "d001"], skip_missing=True)] == [
            "d004",
            "d001",
        ]
        doc = store.get("d002")
        assert doc.payload == {"text": "document number 2", "images": ["img/2.png"]}
        assert doc.metadata == {"i": 2, "lang": "en"} and doc.source == "a.txt"
        assert doc.content_hash == content_hash(doc.payload) and doc.updated > 0
        assert store.get("nope") is None

    with DocStore(tmp_path / "docs.sqlite") as reopened:
        assert reopened.count() == 5 and reopened.ids() == [f"d{i:03d}" for i in range(5)]
        journal = reopened.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert journal == "wal"


def test_replace_delete_iterate(tmp_path):
    store = DocStore(tmp_path / "docs.sqlite")
    store.put_many(docs(25))
    store.put_many([Document(id="d001", payload={"text": "changed"}, content_hash="h1")])
    assert store.get("d001").payload == {"text": "changed"}
    assert store.get("d001").content_hash == "h1"
    assert store.delete_many(["d000", "d002", "d002", "missing"]) == 2
    batches = list(store.iter_documents(batch_size=10))
    assert [len(b) for b in batches] == [10, 10, 3]
    assert [d.id for b in batches for d in b] == store.ids()
    assert "d001" in store and "d000" not in store and len(store) == 23
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.count()


def test_sources_table(tmp_path):
    with DocStore(tmp_path / "docs.sqlite") as store:
        store.put_many(docs(3, source="notes/a.md"))
        record = SourceRecord("notes/a.md", "abc123", mtime=1700000000.5, size=42)
        record.doc_ids = ["d000", "d001", "d002"]
        store.set_source(record)
        store.set_source(SourceRecord("b.pdf", "ffff", 1.0, 7, ["x"]))
        sources = store.sources()
        assert list(sources) == ["b.pdf", "notes/a.md"]
        assert sources["notes/a.md"].doc_ids == ["d000", "d001", "d002"]
        assert sources["notes/a.md"].size == 42 and sources["notes/a.md"].mtime == 1700000000.5
        assert store.ids_for_source("notes/a.md") == ["d000", "d001", "d002"]
        removed = store.remove_source("notes/a.md", delete_documents=True)
        assert removed.content_hash == "abc123"
        assert store.count() == 0 and list(store.sources()) == ["b.pdf"]
        assert store.remove_source("never-seen") is None


def test_exception_mid_batch_leaves_nothing(tmp_path):
    store = DocStore(tmp_path / "docs.sqlite")
    store.put_many(docs(2, prefix="keep"))

    def failing_batch():
        yield from docs(50)
        raise OSError("disk went away while reading the corpus")

    with pytest.raises(OSError, match="disk went away"):
        store.put_many(failing_batch())
    assert store.ids() == ["keep000", "keep001"]

    bad = docs(3)
    bad[2].payload = {"image": object()}
    with pytest.raises(ValueError, match="d002.*not JSON-serialisable"):
        store.put_many(bad)
    assert store.count() == 2


def test_grouped_transaction_and_savepoints(tmp_path):
    store = DocStore(tmp_path / "docs.sqlite")
    with pytest.raises(RuntimeError), store.transaction():
        store.put_many(docs(3))
        store.set_source(SourceRecord("a", "h", 0.0, 1, ["d000"]))
        raise RuntimeError("abort the whole update")
    assert store.count() == 0 and store.sources() == {}

    with store.transaction():
        store.put_many(docs(2))
        with pytest.raises(ValueError), store.transaction():
            store.put_many(docs(2, prefix="inner"))
            raise ValueError("inner part fails")
        store.set_source(SourceRecord("a", "h", 0.0, 1, ["d000", "d001"]))
    assert store.ids() == ["d000", "d001"] and list(store.sources()) == ["a"]


def test_killed_writer_leaves_no_partial_batch(tmp_path):
    path = tmp_path / "docs.sqlite"
    with DocStore(path) as store:
        store.put_many(docs(1, prefix="before"))
    child = run_python(
        f"""
import sys, time
from nyx.indexes import DocStore, Document
store = DocStore({str(path)!r})
with store.transaction():
    store.put_many([Document(id=f"half{{i}}", payload={{"text": "x" * 1000}}) for i in range(500)])
    print("in transaction", flush=True)
    time.sleep(60)
"""
    )
    assert child.stdout.readline().strip() == "in transaction"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    with DocStore(path) as store:
        assert store.ids() == ["before000"]
        store.put_many(docs(1, prefix="after"))  # the dead writer's lock is gone
        assert store.count() == 2


def test_readonly_mode(tmp_path):
    with pytest.raises(FileNotFoundError, match="no document store"):
        DocStore(tmp_path / "missing.sqlite", readonly=True)
    with DocStore(tmp_path / "docs.sqlite") as store:
        store.put_many(docs(1))
    with DocStore(tmp_path / "docs.sqlite", readonly=True) as reader:
        assert reader.ids() == ["d000"]
        with pytest.raises(sqlite3.OperationalError):
            reader.put_many(docs(1, prefix="x"))


def test_ids_matching_scans_metadata_with_the_filter_grammar(tmp_path):
    from nyx.indexes import Filter

    with DocStore(tmp_path / "docs.sqlite") as store:
        store.put_many([Document("b", {}, {"lang": "en", "year": 2001}),
                        Document("a", {}, {"lang": ["en", "fr"]}),
                        Document("c", {}, {"lang": "de", "year": 1999})])
        assert store.ids_matching(Filter.parse({"lang": "en"})) == ["a", "b"]
        assert store.ids_matching(Filter.parse({"year": {"lt": 2000}})) == ["c"]
        assert store.ids_matching(Filter.parse({"lang": "xx"})) == []


def test_copy_on_write_reads_in_place_and_copies_at_the_first_write(tmp_path):
    import hashlib

    committed = tmp_path / "gen" / "docs.sqlite"
    with DocStore(committed) as store:
        store.put_many([Document("a", {"text": "apples"}), Document("b", {"text": "bread"})])
    digest = hashlib.sha256(committed.read_bytes()).hexdigest()
    before = sorted(p.name for p in committed.parent.iterdir())
    private = tmp_path / "private" / "docs.sqlite"
    store = DocStore(committed, copy_on_write=private)
    assert store.get("a").payload == {"text": "apples"} and store.count() == 2
    assert not private.exists()  # reading copied nothing
    assert sorted(p.name for p in committed.parent.iterdir()) == before  # no -wal/-shm added
    store.put_many([Document("c", {"text": "cherries"})])
    assert private.exists() and store.count() == 3 and store.get("b") is not None
    store.delete_many(["a"])
    store.close()
    assert hashlib.sha256(committed.read_bytes()).hexdigest() == digest  # never modified
    with DocStore(committed, readonly=True) as original:
        assert sorted(original.ids()) == ["a", "b"]


def test_summaries_follow_writes_here_and_by_another_connection(tmp_path):
    """Summaries and the document count are cached between writes: a write through this store
    or through another connection to the same file is seen by the next call."""
    from nyx.indexes import DocStore, Document

    path = tmp_path / "docs.sqlite"
    store = DocStore(path)
    store.put_many([Document("a", {"text": "alpha", "n_vectors": 2}, {"source": "a.txt",
                                                                       "chunk": 0}),
                    Document("b", {"text": "  \n"}, {"source": 7})])
    a, b, missing = store.summaries(["a", "b", "zz"])
    assert (a.source, a.chunk, a.has_text, a.n_vectors) == ("a.txt", 0, True, 2)
    assert (b.source, b.chunk, b.has_text, b.n_vectors) == (None, None, False, 1)
    assert missing is None and store.count() == 2
    store.put_many([Document("b", {"text": "beta"}, {"source": "b.txt"}), Document("c", {})])
    assert store.summaries(["b"])[0].has_text and store.summaries(["b"])[0].source == "b.txt"
    assert store.count() == 3
    other = DocStore(path)
    other.delete_many(["a", "c"])
    other.close()
    assert store.summaries(["a"]) == [None] and store.count() == 1
    store.close()
