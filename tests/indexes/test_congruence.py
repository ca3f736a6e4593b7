"""Congruence: FAISS flat, FAISS HNSW and Qdrant (in memory and on disk) must give the
same ids and scores as an exact brute-force reference for the same operations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nyx.indexes import FaissIndex, Filter, Hit, QdrantIndex, VectorIndex, load_index

from .conftest import clustered_vectors, make_metadata

pytest.importorskip("qdrant_client")

DIM = 32
SCORE_TOL = 1e-4
BACKENDS = ["faiss-flat", "faiss-hnsw", "qdrant-memory", "qdrant-local"]

FILTERS: list[dict[str, Any] | str | None] = [
    None,
    {"lang": "de"},
    {"tags": "paper"},
    {"tags": {"any": ["forum", "wiki"]}},
    {"lang": {"any": ["fr", "de"]}},
    {"year": {"gte": 2000, "lt": 2010}},
    {"rating": {"gt": 4.5}},
    {"public": False, "year": {"lte": 1995}},
    {"lang": "fr", "tags": "wiki", "year": {"gte": 2015}},  # matches only a few
    {"lang": "xx"},  # matches nothing
    {"lang": {"prefix": "d"}, "tags": {"glob": "w*"}},  # Qdrant: MatchPrefix for both
    "lang=f*; year>=2010",  # the expression form
]


class Reference:
    """Exact brute-force model of the `VectorIndex` semantics."""

    def __init__(self) -> None:
        self.vectors: dict[str, np.ndarray] = {}
        self.metadata: dict[str, dict[str, Any]] = {}

    def upsert(self, ids, vectors, metadata) -> None:
        for doc_id, vector, meta in zip(ids, vectors, metadata):
            self.vectors[doc_id], self.metadata[doc_id] = vector, meta

    def delete(self, ids) -> int:
        present = [i for i in dict.fromkeys(ids) if i in self.vectors]
        for doc_id in present:
            del self.vectors[doc_id], self.metadata[doc_id]
        return len(present)

    def search(self, queries, k, filter=None) -> list[list[Hit]]:
        flt = Filter.coerce(filter)
        ids = [i for i in self.vectors if flt is None or flt.matches(self.metadata[i])]
        if not ids:
            return [[] for _ in queries]
        matrix = np.stack([self.vectors[i] for i in ids]).astype(np.float64)
        scores = queries.astype(np.float64) @ matrix.T
        out = []
        for row in scores:
            order = np.argsort(-row, kind="stable")[:k]
            out.append([Hit(ids[j], float(row[j])) for j in order])
        return out


def make_index(name: str, tmp_path: Path) -> VectorIndex:
    if name == "faiss-flat":
        return FaissIndex(DIM, kind="flat")
    if name == "faiss-hnsw":
        # exact_filter_max=0 forces filtered searches through the IDSelector path.
        return FaissIndex(DIM, kind="hnsw", hnsw_m=16, ef_search=200, exact_filter_max=0)
    if name == "qdrant-memory":
        return QdrantIndex(DIM, location=":memory:", collection="congruence")
    return QdrantIndex(DIM, path=str(tmp_path / "qdrant-storage"), collection="congruence")


def assert_same_hits(got: list[list[Hit]], want: list[list[Hit]], label: str) -> None:
    assert len(got) == len(want), label
    for row, (g, w) in enumerate(zip(got, want)):
        where = f"{label}, query {row}"
        assert len(g) == len(w), f"{where}: {len(g)} hits, expected {len(w)}"
        np.testing.assert_allclose(
            [h.score for h in g], [h.score for h in w], atol=SCORE_TOL, err_msg=where
        )
        for position, (gh, wh) in enumerate(zip(g, w)):
            if gh.id != wh.id:  # only acceptable between (near-)tied scores
                tied = {h.id for h in w if abs(h.score - wh.score) <= SCORE_TOL}
                assert gh.id in tied, f"{where}, rank {position}: {gh.id} != {wh.id}"


def operations(seed: int = 7) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The shared script: upserts, re-upserts, deletes, then searches of every kind."""
    base = clustered_vectors(400, DIM, seed=seed)
    ids = [f"doc-{i:04d}" for i in range(400)]
    metadata = make_metadata(400, seed=seed)
    queries = clustered_vectors(12, DIM, seed=seed + 1)
    yield "upsert", (ids[:300], base[:300], metadata[:300])
    yield "upsert", (ids[300:], base[300:], metadata[300:])
    yield "search", (queries, 10, None)
    # Re-upsert 60 existing ids with new vectors and metadata, plus 40 new ids.
    changed = ids[100:160] + [f"new-{i:03d}" for i in range(40)]
    yield (
        "upsert",
        (changed, clustered_vectors(100, DIM, seed=seed + 2), make_metadata(100, seed=9)),
    )
    yield "delete", (ids[200:260] + ["missing-1", "missing-2", ids[200]],)
    yield "delete", (ids[260:275],)
    for flt in FILTERS:
        yield "search", (queries, 10, flt)
    yield "search", (queries[:3], 500, {"lang": "fr"})  # k larger than the match count
    yield "search", (queries[0], 5, None)  # a single 1-D query


def run_script(index: Any) -> list[Any]:
    transcript = []
    for op, args in operations():
        result = getattr(index, op)(*args)
        transcript.append((op, result))
    return transcript


@pytest.fixture(scope="module")
def reference() -> tuple[Reference, list[Any]]:
    model = Reference()
    transcript = []
    for op, args in operations():
        if op == "search":
            queries = np.atleast_2d(args[0])
            transcript.append((op, model.search(queries, *args[1:])))
        else:
            transcript.append((op, getattr(model, op)(*args)))
    return model, transcript


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_matches_reference(backend, reference, tmp_path):
    model, expected = reference
    with make_index(backend, tmp_path) as index:
        transcript = run_script(index)
        for step, ((op, got), (_, want)) in enumerate(zip(transcript, expected)):
            if op == "search":
                assert_same_hits(got, want, f"{backend} step {step}")
            else:
                assert got == want, f"{backend} step {step}: {op} returned {got}, want {want}"

        assert index.count() == len(model.vectors)
        assert index.ids() == sorted(model.vectors)
        sample = sorted(model.vectors)[::37]
        np.testing.assert_allclose(
            index.get_vectors(sample), np.stack([model.vectors[i] for i in sample]), atol=1e-6
        )
        assert index.get_metadata([*sample, "doc-0200"]) == [
            *(model.metadata[i] for i in sample),
            None,
        ]
        queries = clustered_vectors(5, DIM, seed=99)
        before = [index.search(queries, 8, flt) for flt in FILTERS[:4]]
        index.save(tmp_path / "saved")

    with load_index(tmp_path / "saved") as reloaded:
        assert type(reloaded) is type(index)
        assert reloaded.count() == len(model.vectors)
        for flt, hits in zip(FILTERS[:4], before):
            assert_same_hits(reloaded.search(queries, 8, flt), hits, f"{backend} reloaded")


def test_backends_agree_with_each_other(tmp_path):
    queries = clustered_vectors(6, DIM, seed=5)
    results = {}
    for backend in BACKENDS:
        with make_index(backend, tmp_path / backend) as index:
            run_script(index)
            results[backend] = [index.search(queries, 7, flt) for flt in FILTERS]
    for backend in BACKENDS[1:]:
        for flt, got, want in zip(FILTERS, results[backend], results["faiss-flat"]):
            assert_same_hits(got, want, f"{backend} vs faiss-flat, filter {flt}")
