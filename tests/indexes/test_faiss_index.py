from __future__ import annotations

import json

import numpy as np
import pytest

from nyx.indexes import FaissIndex

from .conftest import clustered_vectors

DIM = 32


def brute_force(
    vectors: np.ndarray, ids: list[str], queries: np.ndarray, k: int
) -> list[list[str]]:
    scores = queries @ vectors.T
    return [[ids[j] for j in np.argsort(-row, kind="stable")[:k]] for row in scores]


@pytest.fixture(scope="module")
def big_hnsw() -> tuple[FaissIndex, np.ndarray, list[str]]:
    """20k clustered vectors in HNSW; 15 documents are "rare", groups hold 1% each."""
    n = 20_000
    vectors = clustered_vectors(n, DIM, seed=1, n_clusters=40)
    ids = [f"d{i}" for i in range(n)]
    rare = set(range(500, n, 1300))  # 15 documents
    metadata = [{"group": i % 100, "rare": i in rare} for i in range(n)]
    index = FaissIndex(DIM, kind="hnsw", hnsw_m=16, ef_construction=64, ef_search=64)
    index.upsert(ids, vectors, metadata)
    return index, vectors, ids


@pytest.mark.parametrize("exact_filter_max", [10_000, 0])
def test_hnsw_very_selective_filter_returns_k(big_hnsw, exact_filter_max):
    index, vectors, ids = big_hnsw
    index.config.exact_filter_max = exact_filter_max  # 0: IDSelector path + exact fallback
    queries = clustered_vectors(20, DIM, seed=2, n_clusters=40)
    rare = [i for i, doc in enumerate(ids) if index.get_metadata([doc])[0]["rare"]]
    assert len(rare) == 15
    hits = index.search(queries, 10, {"rare": True})
    expected = brute_force(vectors[rare], [ids[i] for i in rare], queries, 10)
    assert [[h.id for h in row] for row in hits] == expected
    assert all(len(row) == 15 for row in index.search(queries, 50, {"rare": True}))


def test_hnsw_one_percent_filter_returns_k_with_high_recall(big_hnsw):
    index, vectors, ids = big_hnsw
    index.config.exact_filter_max = 0  # force the IDSelectorBatch search over 200 matches
    queries = clustered_vectors(30, DIM, seed=3, n_clusters=40)
    hits = index.search(queries, 10, {"group": 7})
    members = [i for i in range(len(ids)) if i % 100 == 7]
    expected = brute_force(vectors[members], [ids[i] for i in members], queries, 10)
    assert all(len(row) == 10 for row in hits)
    assert all(index.get_metadata([h.id])[0]["group"] == 7 for row in hits for h in row)
    found = sum(len({h.id for h in row} & set(want)) for row, want in zip(hits, expected))
    assert found / (10 * len(queries)) >= 0.95


def test_flat_filtered_search_is_exact_and_full():
    vectors = clustered_vectors(3000, DIM, seed=4)
    ids = [f"d{i}" for i in range(3000)]
    index = FaissIndex(DIM, kind="flat", exact_filter_max=100)  # 300 matches: selector path
    index.upsert(ids, vectors, [{"g": i % 10} for i in range(3000)])
    queries = clustered_vectors(5, DIM, seed=5)
    members = [i for i in range(3000) if i % 10 == 3]
    expected = brute_force(vectors[members], [ids[i] for i in members], queries, 25)
    assert [[h.id for h in row] for row in index.search(queries, 25, {"g": 3})] == expected


def test_labels_survive_deletes_reupserts_and_save_load(tmp_path):
    vectors = clustered_vectors(300, DIM, seed=6)
    ids = [f"d{i}" for i in range(300)]
    index = FaissIndex(DIM, kind="flat")
    index.upsert(ids, vectors)
    labels = dict(zip(ids, index.labels(ids)))
    assert sorted(labels.values()) == list(range(300))

    assert index.delete(ids[:100:2]) == 50
    survivors = ids[1:100:2] + ids[100:]
    assert index.labels(survivors) == [labels[i] for i in survivors]

    index.upsert(["d1", "new"], clustered_vectors(2, DIM, seed=7))  # replace d1, add new
    relabelled = index.labels(["d1", "new"])
    assert min(relabelled) >= 300  # fresh labels, never reused
    index.upsert(["d0"], vectors[:1])  # re-adding a deleted id also gets a fresh label
    assert index.labels(["d0"])[0] > max(relabelled)

    queries = clustered_vectors(4, DIM, seed=8)
    before = index.search(queries, 7)
    index.save(tmp_path)
    loaded = FaissIndex.load(tmp_path)
    assert loaded.labels(index.ids()) == index.labels(index.ids())
    assert loaded.search(queries, 7) == before
    loaded.upsert(["after-load"], vectors[:1])
    assert loaded.labels(["after-load"])[0] > index.labels(["d0"])[0]


def test_hnsw_tombstones_then_rebuild():
    vectors = clustered_vectors(200, DIM, seed=9)
    ids = [f"d{i}" for i in range(200)]
    index = FaissIndex(DIM, kind="hnsw", hnsw_m=16, rebuild_ratio=0.2)
    index.upsert(ids, vectors, [{"i": i} for i in range(200)])
    index.upsert(ids[:5], vectors[:5])  # re-upsert: old versions become tombstones
    assert index.tombstone_count == 5
    assert index.delete(ids[5:35]) == 30
    assert index.tombstone_count == 35 and index.count() == 170  # 35 / 205 < 20 %
    hits = index.search(vectors[5:35], 5)  # queries equal to deleted vectors
    returned = {h.id for row in hits for h in row}
    assert returned.isdisjoint(ids[5:35]) and all(len(row) == 5 for row in hits)
    assert [row[0].id for row in index.search(vectors[:5], 1)] == ids[:5]

    assert index.delete(ids[35:45]) == 10  # 45 / 205 > 20 % -> rebuild
    assert index.tombstone_count == 0
    assert index._index.ntotal == index.count() == 160
    assert [row[0].id for row in index.search(vectors[50:60], 1)] == ids[50:60]
    assert index.get_metadata(["d60"]) == [{"i": 60}]


def test_auto_kind_switches_to_hnsw_and_remembers(tmp_path):
    index = FaissIndex(DIM, kind="auto", auto_threshold=100, hnsw_m=8)
    index.upsert([f"a{i}" for i in range(80)], clustered_vectors(80, DIM, seed=10))
    assert index.kind == "flat"
    vectors = clustered_vectors(40, DIM, seed=11)
    index.upsert([f"b{i}" for i in range(40)], vectors)
    assert index.kind == "hnsw" and index.count() == 120
    assert index.params["resolved_kind"] == "hnsw"
    index.save(tmp_path)
    saved = json.loads((tmp_path / "index.json").read_text())
    assert saved["config"]["kind"] == "auto" and saved["kind"] == "hnsw"
    loaded = FaissIndex.load(tmp_path)
    assert loaded.kind == "hnsw"
    assert [row[0].id for row in loaded.search(vectors[:3], 1)] == ["b0", "b1", "b2"]


def test_ivfpq_trains_searches_deletes_and_reloads(tmp_path):
    vectors = clustered_vectors(1200, DIM, seed=12)
    ids = [f"d{i}" for i in range(1200)]
    index = FaissIndex(DIM, kind="ivfpq", ivf_nlist=16, pq_m=8, nprobe=16)
    with pytest.raises(ValueError, match="at least 256 vectors"):
        index.upsert(ids[:100], vectors[:100])
    index.upsert(ids, vectors, [{"g": i % 4} for i in range(1200)])
    top1 = [row[0].id for row in index.search(vectors[:50], 1)]
    assert sum(a == b for a, b in zip(top1, ids[:50])) >= 40  # lossy codes, still close
    assert index.delete(ids[:10]) == 10
    assert not {h.id for row in index.search(vectors[:10], 5) for h in row} & set(ids[:10])
    hits = index.search(vectors[20:23], 10, {"g": 2})
    assert all(len(row) == 10 and all(h.id in ids[2::4] for h in row) for row in hits)
    index.save(tmp_path)
    loaded = FaissIndex.load(tmp_path, nprobe=4)
    assert loaded.config.nprobe == 4 and loaded.count() == 1190
    assert loaded.delete(["d20"]) == 1  # the hashtable direct map survived the round trip


def test_save_is_atomic_and_cleans_old_files(tmp_path):
    index = FaissIndex(DIM, kind="flat")
    index.upsert(["a", "b"], clustered_vectors(2, DIM, seed=13), [{"x": 1}, {"x": 2}])
    index.save(tmp_path)
    first = json.loads((tmp_path / "index.json").read_text())["files"]
    # An interrupted later save leaves orphan data files; index.json still names the old ones.
    (tmp_path / "vectors-orphan.faiss").write_bytes(b"garbage")
    assert FaissIndex.load(tmp_path).get_metadata(["a", "b"]) == [{"x": 1}, {"x": 2}]
    index.delete(["a"])
    index.save(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    second = json.loads((tmp_path / "index.json").read_text())["files"]
    assert files == sorted(["index.json", second["vectors"], second["records"]])
    assert second != first and FaissIndex.load(tmp_path).ids() == ["b"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ix: ix.upsert(["a"], np.ones((1, 8), np.float32)), "dimension 8 .* dim=32"),
        (lambda ix: ix.upsert(["a", "a"], np.ones((2, DIM), np.float32)), "duplicates"),
        (lambda ix: ix.upsert(["a", "b"], np.ones((1, DIM), np.float32)), "2 ids but 1 vectors"),
        (lambda ix: ix.upsert(["a"], np.full((1, DIM), np.nan)), "NaN"),
        (lambda ix: ix.upsert("ab", np.ones((2, DIM))), "single string"),
        (lambda ix: ix.upsert(["a"], np.ones((1, DIM)), [{}, {}]), "2 metadata dicts"),
        (lambda ix: ix.search(np.ones((1, DIM)), 0), "k must be a positive integer"),
        (lambda ix: ix.search(np.ones((1, 3)), 1), "dimension 3"),
        (lambda ix: ix.search(np.ones((1, DIM)), 1, {"x": {"near": 1}}), "'near'"),
        (lambda ix: ix.get_vectors(["nope"]), "nope"),
    ],
)
def test_invalid_input_errors_say_what_is_wrong(call, message):
    index = FaissIndex(DIM, kind="flat")
    with pytest.raises((ValueError, KeyError), match=message):
        call(index)


def test_bad_config_and_load_errors(tmp_path):
    with pytest.raises(ValueError, match="'ivf'"):
        FaissIndex(DIM, kind="ivf")
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        FaissIndex(0)
    with pytest.raises(FileNotFoundError, match="index.json missing"):
        FaissIndex.load(tmp_path)
    FaissIndex(DIM).save(tmp_path)
    with pytest.raises(ValueError, match="kind cannot change"):
        FaissIndex.load(tmp_path, kind="hnsw")
    with pytest.raises(ValueError, match="unknown FaissConfig parameters"):
        FaissIndex.load(tmp_path, ef=3)


def test_empty_index_and_context_manager():
    with FaissIndex(DIM, kind="hnsw") as index:
        assert index.search(np.ones((2, DIM), np.float32), 3) == [[], []]
        assert index.count() == 0 and index.ids() == [] and index.delete(["x"]) == 0
        assert "x" not in index


def test_metadata_must_be_json_serialisable():
    index = FaissIndex(DIM, kind="flat")
    vector = clustered_vectors(1, DIM, seed=14)
    with pytest.raises(ValueError, match=r"metadata\[0\] is not JSON-serialisable"):
        index.upsert(["a"], vector, [{"when": object()}])
    with pytest.raises(ValueError, match="non-string keys"):
        index.upsert(["a"], vector, [{1: "x"}])
    assert index.count() == 0


def test_use_gpu_is_refused_clearly_without_a_faiss_gpu():
    from nyx.indexes import faiss_config, faiss_index

    if faiss_config.gpu_available():
        pytest.skip("faiss sees a GPU here")
    with pytest.raises(ValueError, match="install faiss-gpu"):
        FaissIndex(4, use_gpu=True)
    # Unset, the index quietly searches on the CPU.
    index = FaissIndex(4)
    index.upsert(["a", "b"], np.eye(4, dtype=np.float32)[:2])
    assert [h.id for h in index.search(np.eye(4, dtype=np.float32)[:1], 1)[0]] == ["a"]
    assert not faiss_index.gpu_available()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_a_few_queries_run_on_one_thread_with_the_same_hits(kind):
    """Fewer than SINGLE_THREAD_QUERIES queries are searched on one OpenMP thread (the caller's
    setting is restored afterwards): each query alone gets the hits it gets in a large batch
    searched on every thread."""
    import faiss

    from nyx.indexes.faiss_index import SINGLE_THREAD_QUERIES

    vectors = clustered_vectors(3000, DIM, seed=5, n_clusters=20)
    ids = [f"d{i}" for i in range(len(vectors))]
    index = FaissIndex(DIM, kind=kind)
    index.upsert(ids, vectors)
    queries = clustered_vectors(2 * SINGLE_THREAD_QUERIES, DIM, seed=6, n_clusters=20)
    before = faiss.omp_get_max_threads()
    together = index.search(queries, 25)
    alone = [index.search(q[None, :], 25)[0] for q in queries]
    assert faiss.omp_get_max_threads() == before
    assert index.search_pairs(queries, 25) == [[(h.id, h.score) for h in hits]
                                                for hits in together]
    assert [[h.id for h in hits] for hits in alone] == [[h.id for h in hits] for hits in together]
    if kind == "flat":
        assert [[h.id for h in hits] for hits in alone] == brute_force(vectors, ids, queries, 25)
