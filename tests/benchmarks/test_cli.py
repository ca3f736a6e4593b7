"""``nyx-bench`` end to end on tiny inputs: every command writes its report, JSON and plot.

The text commands run on a 20-document BEIR folder written here; ``speed`` runs on small
synthetic unit vectors (its real-data path is what ``nyx-bench speed`` itself exercises);
``retrieval`` on images uses the first 30 Fashion-MNIST test images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nyx.benchmarks import cli

DOCS = [
    ("Paris", "Paris is the capital and largest city of France, on the river Seine."),
    ("Berlin", "Berlin is the capital of Germany and its most populous city."),
    ("Rome", "Rome is the capital of Italy and was the centre of the Roman Empire."),
    ("Madrid", "Madrid is the capital of Spain, in the centre of the Iberian peninsula."),
    ("Photosynthesis", "Plants turn sunlight, water and carbon dioxide into sugar and oxygen."),
    ("Mitochondria", "Mitochondria produce most of the chemical energy of a cell as ATP."),
    ("DNA", "DNA carries the genetic instructions of all known living organisms."),
    ("Volcano", "A volcano is a rupture in the crust where lava and ash escape."),
    ("Earthquake", "An earthquake is the shaking of the ground caused by seismic waves."),
    ("Glacier", "A glacier is a persistent body of dense ice that moves under its own weight."),
    ("Piano", "The piano is a keyboard instrument whose strings are struck by hammers."),
    ("Violin", "The violin is a string instrument played with a bow, the smallest of its family."),
    ("Guitar", "A guitar usually has six strings and is plucked or strummed."),
    ("Football", "Association football is played by two teams of eleven players with a ball."),
    ("Chess", "Chess is a board game for two players on a board of sixty-four squares."),
    ("Tennis", "Tennis is a racket sport played against one opponent or two."),
    ("Moon", "The Moon is Earth's only natural satellite and orbits it every 27 days."),
    ("Mars", "Mars is the fourth planet from the Sun, often called the Red Planet."),
    ("Jupiter", "Jupiter is the largest planet in the Solar System, a gas giant."),
    ("Comet", "A comet is an icy body that releases gas when it passes close to the Sun."),
]
QUERIES = [
    ("q1", "What is the capital of France?", "d0"),
    ("q2", "Which city is the capital of Germany?", "d1"),
    ("q3", "How do plants make sugar from sunlight?", "d4"),
    ("q4", "What produces energy inside a cell?", "d5"),
    ("q5", "Which instrument has strings struck by hammers?", "d10"),
    ("q6", "Which planet is called the Red Planet?", "d17"),
]


@pytest.fixture(scope="module")
def beir_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("beir")
    with open(folder / "corpus.jsonl", "w") as handle:
        for i, (title, text) in enumerate(DOCS):
            handle.write(json.dumps({"_id": f"d{i}", "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as handle:
        for qid, text, _ in QUERIES:
            handle.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir()
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, _, d in QUERIES]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Vector caches of these tiny runs go to a temporary folder, not ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "nyx-cache"
    monkeypatch.setattr("nyx.benchmarks.vector_cache.bench_cache_dir",
                        lambda *parts: _mkdir(cache.joinpath("bench", *parts)))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _outputs(out: Path, name: str) -> dict:
    assert (out / f"{name}.md").stat().st_size > 200
    pngs = list(out.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    data = json.loads((out / f"{name}.json").read_text())
    assert data["machine"]["cpu_count"] >= 1 and "faiss-cpu" in data["machine"]["versions"]
    return data


def test_retrieval_on_a_tiny_beir_folder(beir_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert cli.main(["retrieval", "--dataset", f"beir:{beir_dir}", "--limit", "5", "--out",
                     str(out), "--no-progress"]) == 0
    data = _outputs(out, "retrieval")
    systems = data["systems"]
    assert set(systems) == {"bm25s", "minilm-numpy", "qdrant-local", "faiss-flat", "nyx-dense",
                            "nyx-hybrid-rrf", "nyx-hybrid"}
    assert data["settings"]["limit"] == 5 and data["encoder"]["version"]
    for row in systems.values():
        assert row["num_queries"] == 5
        assert 0.0 <= row["ndcg@10"] <= 1.0 and row["recall@1"] <= row["recall@5"] <= 1.0
        assert row["p99_ms"] >= row["p50_ms"] > 0
    # Same vectors, exact search: the three vector peers agree, and the easy queries are found.
    for name in ("qdrant-local", "faiss-flat"):
        assert systems[name]["ndcg@10"] == pytest.approx(systems["minilm-numpy"]["ndcg@10"])
    assert systems["nyx-hybrid"]["recall@5"] == 1.0
    assert "| nyx-hybrid |" in (out / "retrieval.md").read_text()


def test_tune_hybrid_on_a_tiny_beir_folder(beir_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "tune"
    assert cli.main(["tune-hybrid", "--dataset", f"beir:{beir_dir}", "--out", str(out),
                     "--step", "0.25", "--check-queries", "3"]) == 0
    data = _outputs(out, "tune-hybrid")
    assert data["tune_queries"] == 3 and data["test_queries"] == 3
    assert 0.0 <= data["chosen"]["dense_weight"] <= 1.0
    assert len(data["grid"]) == 4 * 2 * 5  # normalisations x candidates x weights
    assert data["check"]["identical_top10"] == 3  # the grid reproduces Retriever.search


def test_speed_on_small_synthetic_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    rng = np.random.default_rng(0)
    unit = rng.standard_normal((1600, 32), dtype=np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    info = {"sources": {"synthetic": 1600}, "real_sentences": 1600, "queries": 100,
            "database_real": 1500, "encoder": "none", "seed": 0}
    monkeypatch.setattr("nyx.benchmarks.speed_corpus.speed_vectors",
                        lambda n_queries, corpus: (unit[:1500], unit[1500:1500 + n_queries], info))
    out = tmp_path / "speed"
    assert cli.main(["speed", "--sizes", "1000,3000", "--queries", "100", "--latency-queries",
                     "20", "--qdrant-max", "1000", "--no-blas-compare", "--out", str(out)]) == 0
    data = _outputs(out, "speed")
    results = data["results"]
    flat = [r for r in results if r["system"] == "faiss-flat"]
    assert [r["n"] for r in flat] == [1000, 3000]
    assert all(r["recall_at_10"] == 1.0 and r["params"]["numpy_agreement@10"] == 1.0
               for r in flat)
    hnsw = [r for r in results if r["system"] == "faiss-hnsw" and r["n"] == 3000]
    assert max(r["recall_at_10"] for r in hnsw) >= 0.95
    qdrant = [r for r in results if r["system"] == "qdrant-local"]
    assert len(qdrant) == 1 and qdrant[0]["n"] == 1000 and qdrant[0]["recall_at_10"] == 1.0


def test_bandwidth_floor_is_sane() -> None:
    from nyx.benchmarks.bandwidth import flat_search_timings, measure_bandwidth

    bandwidth = measure_bandwidth(nbytes=16 << 20, repeats=2)
    assert 0.1 < bandwidth["read_gbps"] < 10_000 and bandwidth["copy_gbps"] > 0.1
    vectors = np.ones((500, 8), dtype=np.float32)
    timings = flat_search_timings(vectors, vectors[:10], k=5, latency_queries=5)
    assert timings["faiss_single"]["count"] == 5 and timings["faiss_batch_qps"] > 0


@pytest.mark.data
def test_images_on_the_first_fashion_mnist_images(tmp_path: Path) -> None:
    out = tmp_path / "fm"
    assert cli.main(["retrieval", "--dataset", "fashion-mnist", "--limit", "30", "--out",
                     str(out), "--no-progress"]) == 0
    data = _outputs(out, "retrieval")
    zero_shot = data["zero_shot"]
    assert 0.0 <= zero_shot["accuracy"] <= 1.0 and len(zero_shot["per_class"]) == 10
    assert sum(sum(row) for row in zero_shot["confusion"]) == 30
    assert set(data["systems"]) == {"nyx-lite dense", "random"}

