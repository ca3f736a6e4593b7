"""The pieces behind ``nyx-bench``: grid fusion, vector cache, perturbation, tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from nyx.benchmarks.hybrid_grid import candidate_scores, fuse, ranking_metrics
from nyx.benchmarks.peers import Bm25sPeer, top_k_indices
from nyx.benchmarks.report import markdown_table, to_jsonable
from nyx.benchmarks.speed_corpus import extend_by_perturbation
from nyx.benchmarks.vector_cache import cached_vectors
from nyx.hybrid import HybridConfig, fuse_scores
from nyx.metrics import evaluate_run


@pytest.fixture(scope="module")
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    dense = rng.uniform(-0.1, 0.9, size=(40, 60))
    lexical = np.where(rng.random((40, 60)) < 0.4, rng.gamma(2.0, 3.0, size=(40, 60)), 0.0)
    return dense, lexical


@pytest.mark.parametrize("method, weight", [("minmax", 0.4), ("minmax", 0.85), ("rrf", 0.5)])
def test_grid_fusion_matches_nyx_fuse_scores(scores, method: str, weight: float) -> None:
    dense, lexical = scores
    candidates = 8
    table = candidate_scores(dense, lexical, 20)
    order = fuse(table, weight, candidates, method)
    config = HybridConfig(dense_weight=weight, candidates=candidates, method=method)
    for q in range(len(dense)):
        dense_top = np.argsort(-dense[q], kind="stable")[:candidates]
        positive = np.flatnonzero(lexical[q] > 0)
        lexical_top = positive[np.argsort(-lexical[q, positive], kind="stable")][:candidates]
        ids = list(dict.fromkeys([*dense_top.tolist(), *lexical_top.tolist()]))
        expected = fuse_scores([f"{i:03d}" for i in ids], dense[q, ids], lexical[q, ids], config,
                               in_dense=np.isin(ids, dense_top),
                               in_lexical=np.isin(ids, lexical_top))
        got = [int(table.docs[q, c]) for c in order[q, : len(ids)]]
        assert got == [int(i) for i, _ in expected]


def test_grid_metrics_match_evaluate_run(scores) -> None:
    dense, lexical = scores
    table = candidate_scores(dense, lexical, 20)
    order = fuse(table, 0.5, 20, "zscore")
    rng = np.random.default_rng(2)
    qrels = {f"q{q}": {f"d{d}": int(rng.integers(1, 3)) for d in rng.choice(60, 3, replace=False)}
             for q in range(len(dense))}
    gains = np.zeros(table.docs.shape)
    for q in range(len(dense)):
        for c, d in enumerate(table.docs[q]):
            gains[q, c] = qrels[f"q{q}"].get(f"d{d}", 0) if d >= 0 else 0
    ideal = np.array([sum(g / np.log2(r + 2) for r, g in enumerate(sorted(
        qrels[f"q{q}"].values(), reverse=True))) for q in range(len(dense))])
    got = ranking_metrics(order, gains, ideal, np.full(len(dense), 3), table.docs >= 0)
    run = {f"q{q}": [f"d{table.docs[q, c]}" for c in order[q] if table.docs[q, c] >= 0]
           for q in range(len(dense))}
    expected = evaluate_run(run, qrels, (1, 5, 10, 20))
    for name in ("ndcg@10", "recall@1", "recall@5", "recall@20", "mrr@10"):
        assert got[name] == pytest.approx(expected[name])


def test_vector_cache_computes_once_and_keys_on_inputs(tmp_path: Path) -> None:
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.ones((2, 3), dtype=np.float32)

    first = cached_vectors("t", "v1", ["a", "b"], compute, folder=tmp_path)
    again = cached_vectors("t", "v1", ["a", "b"], compute, folder=tmp_path)
    assert len(calls) == 1 and np.array_equal(first, again)
    cached_vectors("t", "v2", ["a", "b"], compute, folder=tmp_path)
    cached_vectors("t", "v1", ["a", "c"], compute, folder=tmp_path)
    assert len(calls) == 3
    meta = json.loads(next(tmp_path.glob("t-*.json")).read_text())
    assert meta["shape"] == [2, 3]
    with pytest.raises(ValueError, match="one row"):
        cached_vectors("bad", "v1", ["a", "b", "c"], compute, folder=tmp_path)


def test_perturbation_keeps_real_rows_and_unit_norms() -> None:
    rng = np.random.default_rng(0)
    real = rng.standard_normal((50, 16)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    out = extend_by_perturbation(real, 230, sigma=0.02, block=64)
    assert out.shape == (230, 16) and np.array_equal(out[:50], real)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(out[50:] * real[np.arange(50, 230) % 50], axis=1)
    assert 0.9 < cosine.min() < 1.0
    assert np.array_equal(extend_by_perturbation(real, 20), real[:20])


def test_top_k_indices_breaks_ties_by_index() -> None:
    assert top_k_indices(np.array([0.5, 0.9, 0.5, 0.1, 0.9]), 3).tolist() == [1, 4, 0]


def test_markdown_table_and_json_conversion() -> None:
    table = markdown_table([{"name": "a", "x": 0.12345, "n": 1200, "ok": True},
                            {"name": "b", "x": None, "n": 3, "ok": False}],
                           ["name", "x", "n", "ok"], digits={"x": 2})
    assert table.splitlines()[1] == "|---|---:|---:|---|"
    assert "| a | 0.12 | 1,200 | yes |" in table and "| b | - | 3 | no |" in table
    assert to_jsonable({"a": np.float32(0.5), "b": np.arange(2), "c": float("nan"),
                        "d": Path("/x")}) == {"a": 0.5, "b": [0, 1], "c": None, "d": "/x"}


def test_the_bm25s_baseline_names_the_extra_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bm25s", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'nyx-retrieval\[bench\]'"):
        Bm25sPeer()
