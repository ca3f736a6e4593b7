"""``nyx-bench query-batching``: hybrid search throughput, a list of queries vs one at a time.

``Retriever.search([...])`` encodes a list of text queries in batches and then ranks each;
a loop of ``search(q)`` encodes one query per call (its p50 / p90 latency is reported too). Both
run on the same retriever (SQuAD-dev paragraphs, nyx-lite, FAISS flat, BM25, the shipped fusion)
over the same questions, and the results are checked to be identical. ``--text-precision int8``
runs nyx-lite's opt-in int8 text tower (documents embedded with it too, cached).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from nyx.benchmarks.environment import limit_threads, machine_info
from nyx.benchmarks.report import Report, markdown_table

logger = logging.getLogger(__name__)

__all__ = ["add_arguments", "run"]


def measure(dataset: str, queries: int, threads: int, out: str,
            text_precision: str = "fp32") -> Report:
    from nyx import load_encoder
    from nyx.benchmarks.rerank import build_domain_retriever

    limit_threads(threads)
    encoder = load_encoder("nyx-lite", text_precision=text_precision)
    retriever, data = build_domain_retriever(dataset, encoder)
    texts = [q["text"] for q in list(data.queries.values())[:queries]]
    retriever.search(texts[:8], k=10)  # warm up
    one_by_one, latencies = [], []
    for text in texts:
        start = time.perf_counter()
        one_by_one.append(retriever.search(text, k=10))
        latencies.append(time.perf_counter() - start)
    sequential = sum(latencies)
    start = time.perf_counter()
    batched = retriever.search(texts, k=10)
    together = time.perf_counter() - start
    same = sum([h.id for h in a] == [h.id for h in b] for a, b in zip(one_by_one, batched))
    p50, p90 = (1000 * float(np.percentile(latencies, q)) for q in (50, 90))
    rows = [{"how": "one query per call", "queries_per_s": len(texts) / sequential,
             "p50_ms": p50, "p90_ms": p90},
            {"how": "one call, list of queries", "queries_per_s": len(texts) / together}]
    retriever.close()
    report = Report("query-batching", f"Hybrid search throughput on {dataset}")
    report.add("Queries per second", markdown_table(
        rows, ["how", "queries_per_s", "p50_ms", "p90_ms"],
        ["how", "queries/s", "p50 ms", "p90 ms"],
        digits={"queries_per_s": 1, "p50_ms": 2, "p90_ms": 2}) +
        f"\n\n{len(texts)} questions, {same} identical top-10 lists, "
        f"speed-up {sequential / together:.2f}x, {threads} threads, text tower "
        f"{text_precision}.")
    report.data = {"rows": rows, "identical": same, "queries": len(texts),
                   "text_precision": text_precision, "machine": machine_info(threads)}
    report.write(Path(out))
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="squad-dev")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="reports/query-batching")
    parser.add_argument("--text-precision", choices=["fp32", "int8"], default="fp32",
                        help="nyx-lite's text tower (int8: the opt-in quantised one)")


def run(args: argparse.Namespace) -> int:
    print(measure(args.dataset, args.queries, args.threads, args.out,
                  args.text_precision).markdown())
    return 0
