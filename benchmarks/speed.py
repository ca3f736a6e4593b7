"""``nyx-bench speed``: build and search speed, recall and memory of the vector indexes.

Vectors are real MiniLM sentence embeddings (:mod:`nyx.benchmarks.speed_corpus`), extended to each
size by documented perturbation; queries are 1,000 held-out SQuAD questions. At every size:
FAISS flat (exact; its results are the ground truth), FAISS HNSW (M=32) over an efSearch grid
with the smallest efSearch reaching the recall target marked, and - up to ``--qdrant-max`` -
qdrant-client local mode (``:memory:``). Reported: build seconds, single-query p50/p99,
batched QPS, recall@10 against exact search, RSS growth and index bytes. The flat-search floor
(bytes scanned / bandwidth) comes from :mod:`nyx.benchmarks.bandwidth`, run in two subprocesses:
with the machine's ``OPENBLAS_*`` variables as set, and with them unset.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.environment import (
    BLAS_ENV_VARS,
    Stopwatch,
    bench_cache_dir,
    limit_threads,
    machine_info,
    rss_bytes,
)
from nyx.benchmarks.latency import summarize_latencies
from nyx.benchmarks.speed_report import write_speed_report

logger = logging.getLogger(__name__)

__all__ = ["IndexResult", "SpeedSettings", "add_arguments", "run", "run_speed"]


@dataclass
class SpeedSettings:
    sizes: tuple[int, ...] = (100_000, 1_000_000)
    out: str = "reports/speed"
    queries: int = 1000
    latency_queries: int = 300
    k: int = 10
    hnsw_m: int = 32
    ef_construction: int = 40
    ef_search: tuple[int, ...] = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
    target_recall: float = 0.95
    qdrant_max: int = 100_000
    qdrant_budget_s: float = 300.0
    qdrant_fallback: int = 20_000
    sigma: float = 0.02
    threads: int = 1
    blas_compare: bool = True
    corpus: str = "squad"


@dataclass
class IndexResult:
    """One index at one size (and one search setting)."""

    system: str
    n: int
    build_s: float | None
    p50_ms: float
    p99_ms: float
    qps: float
    recall_at_10: float
    rss_delta_mb: float | None = None
    index_mb: float | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated sizes")
    parser.add_argument("--out", default="reports/speed")
    parser.add_argument("--queries", type=int, default=1000, help="held-out query vectors")
    parser.add_argument("--latency-queries", type=int, default=300,
                        help="queries timed one by one for p50/p99")
    parser.add_argument("--ef-construction", type=int, default=40)
    parser.add_argument("--ef-search", default="16,24,32,48,64,96,128,192,256,384,512",
                        help="comma-separated efSearch values to sweep")
    parser.add_argument("--qdrant-max", type=int, default=100_000,
                        help="largest size loaded into qdrant local mode (0: skip qdrant)")
    parser.add_argument("--qdrant-budget-s", type=float, default=300.0,
                        help="fall back to 20k points if loading would take longer than this")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--corpus", default="squad", choices=("squad-qp", "squad", "squad+wiki"),
                        help="real texts: SQuAD questions+paragraphs (squad-qp), + paragraph "
                             "sentences (squad), + Wikipedia lead sentences (squad+wiki)")
    parser.add_argument("--bandwidth-only", action="store_true",
                        help="keep the index results of <out>/speed.json and re-measure only "
                             "the bandwidth floor (e.g. on a quieter machine)")
    parser.add_argument("--no-blas-compare", action="store_true",
                        help="skip the bandwidth subprocesses (with/without OPENBLAS_*)")


def _single_latency(search: Any, queries: np.ndarray, n: int) -> tuple[float, float]:
    durations = []
    for query in queries[:n]:
        start = time.perf_counter()
        search(query[None, :])
        durations.append(time.perf_counter() - start)
    summary = summarize_latencies(durations)
    return summary.p50_ms, summary.p99_ms


def neighbour_recall(found: np.ndarray, truth: np.ndarray) -> float:
    """ANN recall: the mean share of the exact top-k neighbours found, per query (rows of
    labels). Not the relevance metric :func:`nyx.metrics.recall_at_k`."""
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth)]))


def bench_flat(vectors: np.ndarray, queries: np.ndarray,
               s: SpeedSettings) -> tuple[IndexResult, np.ndarray]:
    import faiss

    before = rss_bytes()
    start = time.perf_counter()
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    build_s = time.perf_counter() - start
    rss = (rss_bytes() - before) / 1e6
    start = time.perf_counter()
    _, truth = index.search(queries, s.k)
    qps = len(queries) / (time.perf_counter() - start)
    p50, p99 = _single_latency(lambda q: index.search(q, s.k), queries, s.latency_queries)
    # Cross-check the ground truth with numpy on a few queries.
    sample = queries[:20]
    exact = np.argsort(-(sample @ vectors.T), axis=1)[:, : s.k]
    agreement = neighbour_recall(exact, truth[:20])
    index.reset()
    result = IndexResult("faiss-flat", len(vectors), build_s, p50, p99, qps, 1.0, rss,
                         vectors.nbytes / 1e6, {"numpy_agreement@10": agreement})
    return result, truth


def _hnsw_bytes(index: Any) -> int:
    hnsw = index.hnsw
    return (index.ntotal * index.d * 4 + hnsw.neighbors.size() * 4 + hnsw.offsets.size() * 8
            + hnsw.levels.size() * 4)


def bench_hnsw(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray,
               s: SpeedSettings) -> list[IndexResult]:
    """Build once, then sweep efSearch; one result per efSearch value."""
    import faiss

    before = rss_bytes()
    start = time.perf_counter()
    index = faiss.IndexHNSWFlat(vectors.shape[1], s.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = s.ef_construction
    index.add(vectors)
    build_s = time.perf_counter() - start
    rss = (rss_bytes() - before) / 1e6
    size_mb = _hnsw_bytes(index) / 1e6
    results = []
    for ef in s.ef_search:
        index.hnsw.efSearch = ef
        start = time.perf_counter()
        _, found = index.search(queries, s.k)
        qps = len(queries) / (time.perf_counter() - start)
        p50, p99 = _single_latency(lambda q: index.search(q, s.k), queries, s.latency_queries)
        results.append(IndexResult("faiss-hnsw", len(vectors), build_s, p50, p99, qps,
                                   neighbour_recall(found, truth), rss, size_mb,
                                   {"M": s.hnsw_m, "efConstruction": s.ef_construction,
                                    "efSearch": ef}))
        logger.info("HNSW n=%d ef=%d recall@10=%.4f p50=%.3f ms", len(vectors), ef,
                    results[-1].recall_at_10, p50)
    index.reset()
    return results


def bench_qdrant(vectors: np.ndarray, queries: np.ndarray, s: SpeedSettings) -> IndexResult:
    """qdrant-client local mode; falls back to ``qdrant_fallback`` points if loading is slow."""
    import faiss
    from qdrant_client import QdrantClient, models

    client = QdrantClient(location=":memory:")
    client.create_collection("speed", vectors_config=models.VectorParams(
        size=vectors.shape[1], distance=models.Distance.DOT))
    before = rss_bytes()
    start = time.perf_counter()
    target, loaded, batch = len(vectors), 0, 1000
    while loaded < target:
        stop = min(loaded + batch, target)
        client.upsert("speed", points=models.Batch(ids=list(range(loaded, stop)),
                                                   vectors=vectors[loaded:stop].tolist()),
                      wait=True)
        loaded = stop
        elapsed = time.perf_counter() - start
        if loaded == 5 * batch and elapsed / loaded * target > s.qdrant_budget_s:
            target = min(target, s.qdrant_fallback)
            logger.warning("qdrant local loads %.0f points/s: measuring at %d points",
                           loaded / elapsed, target)
    build_s = time.perf_counter() - start
    rss = (rss_bytes() - before) / 1e6
    n = loaded

    def search(query: np.ndarray) -> list[int]:
        points = client.query_points("speed", query=query[0].tolist(), limit=s.k).points
        return [int(p.id) for p in points]

    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors[:n])
    _, truth = flat.search(queries, s.k)
    sample = min(len(queries), max(s.latency_queries, 100))
    found = np.full((sample, s.k), -1)
    durations = []
    for i in range(sample):
        begin = time.perf_counter()
        ids = search(queries[i:i + 1])
        durations.append(time.perf_counter() - begin)
        found[i, : len(ids)] = ids
    summary = summarize_latencies(durations)
    client.close()
    return IndexResult("qdrant-local", n, build_s, summary.p50_ms, summary.p99_ms,
                       sample / sum(durations), neighbour_recall(found, truth[:sample]), rss, None,
                       {"points_per_s": n / build_s, "requested_n": len(vectors),
                        "qps_note": "sequential single queries (local mode has no batch path)"})


def _blas_subprocesses(base: np.ndarray, queries: np.ndarray,
                       s: SpeedSettings) -> dict[str, Any]:
    folder = bench_cache_dir("speed")
    base_path, query_path = folder / "base.npy", folder / "queries.npy"
    np.save(base_path, base)
    np.save(query_path, queries)
    results = {}
    for label in ("as_is", "unset"):
        env = dict(os.environ)
        if label == "unset":
            for name in BLAS_ENV_VARS:
                env.pop(name, None)
        out = folder / f"bandwidth-{label}.json"
        command = [sys.executable, "-m", "nyx.benchmarks.bandwidth", "--base", str(base_path),
                   "--queries", str(query_path), "--sizes", ",".join(map(str, s.sizes)),
                   "--sigma", str(s.sigma), "--threads", str(s.threads), "--json", str(out)]
        logger.info("bandwidth subprocess (%s): %s", label, " ".join(command))
        subprocess.run(command, env=env, check=True, cwd=Path(__file__).resolve().parents[1])
        results[label] = json.loads(out.read_text())
    return results


def run_speed(s: SpeedSettings) -> Any:
    from nyx.benchmarks.speed_corpus import extend_by_perturbation, speed_vectors

    clock = Stopwatch()
    with clock.phase("vectors"):
        base, queries, provenance = speed_vectors(s.queries, corpus=s.corpus)
    blas: dict[str, Any] = {}
    results: list[IndexResult] = []
    machine = machine_info(s.threads)
    provenance["perturbed"] = {str(n): max(0, n - len(base)) for n in s.sizes}
    report = None
    for i, n in enumerate(s.sizes):
        vectors = extend_by_perturbation(base, n, s.sigma)
        with clock.phase(f"flat n={n}"):
            flat, truth = bench_flat(vectors, queries, s)
        results.append(flat)
        with clock.phase(f"hnsw n={n}"):
            results.extend(bench_hnsw(vectors, queries, truth, s))
        if s.qdrant_max and n <= s.qdrant_max:
            with clock.phase(f"qdrant n={n}"):
                results.append(bench_qdrant(vectors, queries, s))
        del vectors, truth
        gc.collect()
        # Written after every size, so a long run leaves its finished part behind.
        report = write_speed_report(s, results, blas, provenance, clock, machine)
        if i == 0 and s.blas_compare:
            with clock.phase("bandwidth subprocesses"):
                blas = _blas_subprocesses(base, queries, s)
            report = write_speed_report(s, results, blas, provenance, clock, machine)
    return report


def rerun_bandwidth(s: SpeedSettings) -> Any:
    """Re-measure the bandwidth subprocesses and rewrite the report around saved results."""
    from nyx.benchmarks.speed_corpus import speed_vectors

    saved = json.loads((Path(s.out) / "speed.json").read_text())
    results = [IndexResult(**r) for r in saved["results"]]
    clock = Stopwatch()
    clock.seconds.update(saved.get("wall_s", {}))
    clock.seconds.pop("bandwidth subprocesses (re-run)", None)  # a previous re-run
    base, queries, _ = speed_vectors(s.queries, corpus=saved["data"].get("corpus", s.corpus))
    with clock.phase("bandwidth subprocesses (re-run)"):
        blas = _blas_subprocesses(base, queries, s)
    return write_speed_report(s, results, blas, saved["data"], clock, machine_info(s.threads))


def run(args: argparse.Namespace) -> int:
    settings = SpeedSettings(
        sizes=tuple(int(x) for x in args.sizes.split(",")), out=args.out, queries=args.queries,
        latency_queries=args.latency_queries, ef_construction=args.ef_construction,
        ef_search=tuple(int(x) for x in args.ef_search.split(",")),
        qdrant_max=args.qdrant_max, qdrant_budget_s=args.qdrant_budget_s,
        threads=args.threads, blas_compare=not args.no_blas_compare,
        corpus=args.corpus)
    limit_threads(settings.threads)
    report = rerun_bandwidth(settings) if args.bandwidth_only else run_speed(settings)
    print(report.markdown())
    return 0
