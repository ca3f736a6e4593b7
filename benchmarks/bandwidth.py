"""Memory bandwidth and the exact (flat) search floor: bytes scanned / bandwidth.

A single-query flat search must read every stored vector once, so its latency cannot beat
``n * dim * 4 bytes / read bandwidth``. This module measures single-thread read bandwidth
(``numpy`` sum of a 512 MiB float32 array, best of 5) and copy bandwidth (``np.copyto``,
counting read + write), then times single-query FAISS flat and numpy (BLAS ``sgemv``) searches
and batched ones (``sgemm``) at each size, to put measured latency beside that floor.

It runs as a script so that ``nyx-bench speed`` can call it in subprocesses with different
environments (``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` as set, and unset)::

    python -m nyx.benchmarks.bandwidth --base base.npy --queries q.npy --sizes 100000 --json o.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nyx.benchmarks.latency import summarize_latencies

logger = logging.getLogger(__name__)

__all__ = ["flat_search_timings", "measure_bandwidth", "measure_floor"]


def _best_seconds(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_bandwidth(nbytes: int = 512 << 20, repeats: int = 5) -> dict[str, float]:
    """Single-thread read (sum) and copy bandwidth in GB/s (10^9 bytes per second)."""
    source = np.ones(nbytes // 4, dtype=np.float32)
    target = np.empty_like(source)
    target.fill(0.0)  # fault the pages in before timing
    read_s = _best_seconds(lambda: source.sum(), repeats)
    copy_s = _best_seconds(lambda: np.copyto(target, source), repeats)
    return {"bytes": float(source.nbytes), "read_gbps": source.nbytes / read_s / 1e9,
            "copy_gbps": 2 * source.nbytes / copy_s / 1e9}


def flat_search_timings(vectors: np.ndarray, queries: np.ndarray, k: int = 10,
                        latency_queries: int = 200, numpy_batch: int | None = None
                        ) -> dict[str, Any]:
    """Single-query p50/p99 (FAISS flat and numpy) and batched QPS (both) on ``vectors``.

    Each query is paired with one timed pass over the very bytes it searches
    (``vectors.sum()``, the streaming floor), interleaved, so that the ratio flat / floor is
    measured under the same momentary load; ``scan_ratio_p50`` is the median of those ratios.
    """
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    sample = queries[:latency_queries]
    single_faiss, single_numpy, scans = [], [], []
    for query in sample:  # interleaved so that load drift affects all alike
        start = time.perf_counter()
        vectors.sum()
        scans.append(time.perf_counter() - start)
        start = time.perf_counter()
        index.search(query[None, :], k)
        single_faiss.append(time.perf_counter() - start)
        start = time.perf_counter()
        scores = vectors @ query
        np.argpartition(-scores, k - 1)[:k]
        single_numpy.append(time.perf_counter() - start)
    batch_faiss = _best_seconds(lambda: index.search(queries, k), 2)
    numpy_queries = queries[:numpy_batch] if numpy_batch else queries
    batch_numpy = _best_seconds(lambda: np.argpartition(-(numpy_queries @ vectors.T), k - 1,
                                                        axis=1)[:, :k], 1)
    index.reset()
    ratios = sorted(f / s for f, s in zip(single_faiss, scans))
    return {"faiss_single": summarize_latencies(single_faiss).to_dict(),
            "numpy_single": summarize_latencies(single_numpy).to_dict(),
            "scan": summarize_latencies(scans).to_dict(),
            "scan_gbps_best": vectors.nbytes / min(scans) / 1e9,
            "faiss_vs_paired_scan_p50": ratios[len(ratios) // 2],
            "faiss_batch_qps": len(queries) / batch_faiss,
            "numpy_batch_qps": len(numpy_queries) / batch_numpy}


def measure_floor(base: np.ndarray, queries: np.ndarray, sizes: list[int], sigma: float,
                  latency_queries: int = 200) -> dict[str, Any]:
    """Bandwidth, then per size: floor, measured flat latency and their ratio."""
    from nyx.benchmarks.speed_corpus import extend_by_perturbation

    bandwidth = measure_bandwidth()
    rows = []
    for n in sizes:
        vectors = extend_by_perturbation(base, n, sigma)
        # Batched numpy over 1M x 1000 would need a 4 GB score matrix: 100 queries there. FAISS
        # always gets all queries: its batched time barely grows from 100 to 1,000 queries.
        numpy_batch = None if n <= 200_000 else 100
        timings = flat_search_timings(vectors, queries, latency_queries=latency_queries,
                                      numpy_batch=numpy_batch)
        scanned = vectors.nbytes
        floor_ms = scanned / (bandwidth["read_gbps"] * 1e9) * 1e3
        rows.append({"n": n, "bytes_scanned": scanned, "floor_ms": floor_ms,
                     "faiss_p50_ms": timings["faiss_single"]["p50_ms"],
                     "numpy_p50_ms": timings["numpy_single"]["p50_ms"],
                     "faiss_vs_floor": timings["faiss_single"]["p50_ms"] / floor_ms,
                     "numpy_vs_floor": timings["numpy_single"]["p50_ms"] / floor_ms,
                     "faiss_batch_queries": len(queries),
                     "numpy_batch_queries": numpy_batch or len(queries), **timings})
        del vectors
    blas = {name: os.environ.get(name) for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return {"bandwidth": bandwidth, "sizes": rows, "blas_env": blas}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help=".npy of real database vectors")
    parser.add_argument("--queries", required=True, help=".npy of query vectors")
    parser.add_argument("--sizes", default="100000", help="comma-separated database sizes")
    parser.add_argument("--sigma", type=float, default=0.02)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", required=True, help="where to write the results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        result = measure_floor(np.load(args.base), np.load(args.queries),
                               [int(s) for s in args.sizes.split(",")], args.sigma,
                               args.latency_queries)
    result["threads"] = args.threads
    with open(args.json, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
