"""Deferred adds (``defer_adds``): what a build spills to disk comes back exactly.

A build appends its new vectors and BM25 documents to spill files and builds the index
structures once, at the save. These tests compare every deferred path with adding directly:
the saved files, search results, replacing and deleting spilled entries, and "auto" going
straight to HNSW when the spilled total passes its threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np

from nyx.indexes import FaissIndex, LexicalIndex
from tests.indexes.conftest import clustered_vectors, make_metadata
from tests.indexes.test_lexical import CORPUS

DIM = 32


def _ids(n: int, prefix: str = "d") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _lexical_files(folder: Path) -> dict[str, object]:
    """A saved lexical index: ``lexical.json`` but the file names (a random tag), and the
    bytes of each file it names, by part."""
    head = json.loads((folder / "lexical.json").read_text(encoding="utf-8"))
    files = head.pop("files")
    return {"head": head, **{part: (folder / name).read_bytes() for part, name in files.items()}}


def _files(folder: Path) -> dict[str, bytes]:
    """A saved index's data files by kind (index.json names them with a random token)."""
    return {p.name.split("-")[0]: p.read_bytes() for p in folder.iterdir()
            if p.name != "index.json"}


def test_deferred_flat_index_saves_the_same_files_and_answers(tmp_path: Path) -> None:
    data = clustered_vectors(300, DIM, seed=1)
    meta = make_metadata(300, seed=1)
    queries = clustered_vectors(20, DIM, seed=2)
    direct, deferred = FaissIndex(DIM, kind="flat"), FaissIndex(DIM, kind="flat")
    deferred.defer_adds(tmp_path / "spill")
    for start in range(0, 300, 64):
        for index in (direct, deferred):
            index.upsert(_ids(300)[start:start + 64], data[start:start + 64],
                         meta[start:start + 64])
    spill = tmp_path / "spill" / "vectors.f32"
    assert spill.stat().st_size == 300 * DIM * 4  # nothing built yet
    # counts, ids and metadata are answered without building the structure
    assert deferred.count() == 300 and deferred.ids() == direct.ids()
    assert deferred.get_metadata(["d7"]) == direct.get_metadata(["d7"])
    direct.save(tmp_path / "a")
    deferred.save(tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert deferred.search(queries, 10) == direct.search(queries, 10)
    assert spill.stat().st_size == 0  # drained into the structure
    deferred.close()
    assert not spill.exists()


def test_spilled_vectors_can_be_replaced_and_deleted(tmp_path: Path) -> None:
    data = clustered_vectors(120, DIM, seed=3)
    other = clustered_vectors(10, DIM, seed=4)
    queries = clustered_vectors(15, DIM, seed=5)
    direct, deferred = FaissIndex(DIM, kind="flat"), FaissIndex(DIM, kind="flat")
    deferred.defer_adds(tmp_path / "spill")
    for index in (direct, deferred):
        index.upsert(_ids(120), data)
        index.upsert(_ids(10), other)  # replaces ten spilled vectors
        assert index.delete(["d50", "d51", "nope"]) == 2
        index.upsert(["extra"], other[:1])  # spilled again after the structure was built
    assert deferred.ids() == direct.ids()
    assert deferred.search(queries, 8) == direct.search(queries, 8)
    np.testing.assert_array_equal(deferred.get_vectors(_ids(10)), other)


def test_deferred_auto_index_goes_straight_to_hnsw(tmp_path: Path) -> None:
    data = clustered_vectors(400, DIM, seed=6)
    index = FaissIndex(DIM, kind="auto", auto_threshold=100)
    index.defer_adds(tmp_path / "spill")
    for start in range(0, 400, 50):
        index.upsert(_ids(400)[start:start + 50], data[start:start + 50])
    assert index.kind == "flat"  # decided when the structure is built
    index.save(tmp_path / "saved")
    assert index.kind == "hnsw" and index.count() == 400
    loaded = FaissIndex.load(tmp_path / "saved")
    assert loaded.kind == "hnsw"
    assert isinstance(faiss.downcast_index(loaded._index.index), faiss.IndexHNSWFlat)
    # each vector finds itself (HNSW with the default graph on 400 points)
    hits = loaded.search(data[:50], 1)
    assert sum(h[0].id == f"d{i}" for i, h in enumerate(hits)) >= 48


def test_deferred_lexical_index_writes_the_same_file_and_scores(tmp_path: Path) -> None:
    ids = _ids(len(CORPUS))
    direct, deferred = LexicalIndex(), LexicalIndex()
    direct.add(ids[:10], CORPUS[:10])
    deferred.add(ids[:10], CORPUS[:10])  # in memory before deferring, as in an update
    deferred.defer_adds(tmp_path / "spill")
    for index in (direct, deferred):
        index.add(ids[10:], CORPUS[10:])
    assert deferred.count() == direct.count() and "d20" in deferred
    assert deferred.ids() == direct.ids()
    direct.save(tmp_path / "a")
    deferred.save(tmp_path / "b")  # streams the spill: still no postings built
    assert _lexical_files(tmp_path / "a") == _lexical_files(tmp_path / "b")
    assert LexicalIndex.load(tmp_path / "b").search(["coffee tea"], 5) == direct.search(
        ["coffee tea"], 5)
    queries = ["black hole telescope", "coral reef", "China paper"]
    assert deferred.search(queries, 5) == direct.search(queries, 5)
    assert deferred.average_length() == direct.average_length()
    deferred.close()
    assert not (tmp_path / "spill" / "lexical.jsonl").exists()


def test_spilled_documents_can_be_replaced_and_deleted(tmp_path: Path) -> None:
    ids = _ids(len(CORPUS))
    direct, deferred = LexicalIndex(), LexicalIndex()
    deferred.defer_adds(tmp_path / "spill")
    for index in (direct, deferred):
        index.add(ids, CORPUS)
        index.add(["d3"], ["espresso coffee and more coffee"])  # replaces a spilled document
        assert index.delete(["d25", "d26", "missing"]) == 2
        index.add(["late"], ["coffee after the postings were built"])
    queries = ["coffee", "espresso", "green tea caffeine"]
    assert deferred.search(queries, 6) == direct.search(queries, 6)
    assert deferred.get_scores("coffee", ["d3", "late", "d25"]).tolist() == (
        direct.get_scores("coffee", ["d3", "late", "d25"]).tolist())
    direct.save(tmp_path / "a")
    deferred.save(tmp_path / "b")
    assert _lexical_files(tmp_path / "a") == _lexical_files(tmp_path / "b")
