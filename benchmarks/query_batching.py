"""``nyx-bench query-batching``: hybrid search throughput, a list of queries vs one at a time.

``Retriever.search([...])`` encodes a list of text queries in batches and then ranks each;
a loop of ``search(q)`` encodes one query per call. Both run on the same retriever (SQuAD-dev
paragraphs, nyx-lite, FAISS flat, BM25, the shipped fusion) over the same questions, and the
results are checked to be identical.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from nyx.benchmarks.environment import limit_threads, machine_info
from nyx.benchmarks.report import Report, markdown_table

logger = logging.getLogger(__name__)

__all__ = ["add_arguments", "run"]


def measure(dataset: str, queries: int, threads: int, out: str) -> Report:
    from nyx.benchmarks.peers import nyx_lite
    from nyx.benchmarks.rerank import build_domain_retriever

    limit_threads(threads)
    retriever, data = build_domain_retriever(dataset, nyx_lite())
    texts = [q["text"] for q in list(data.queries.values())[:queries]]
    retriever.search(texts[:8], k=10)  # warm up
    rows = []
    start = time.perf_counter()
    one_by_one = [retriever.search(t, k=10) for t in texts]
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    batched = retriever.search(texts, k=10)
    together = time.perf_counter() - start
    same = sum([h.id for h in a] == [h.id for h in b] for a, b in zip(one_by_one, batched))
    rows = [{"how": "one query per call", "queries_per_s": len(texts) / sequential},
            {"how": "one call, list of queries", "queries_per_s": len(texts) / together}]
    retriever.close()
    report = Report("query-batching", f"Hybrid search throughput on {dataset}")
    report.add("Queries per second", markdown_table(rows, ["how", "queries_per_s"],
                                                    ["how", "queries/s"],
                                                    digits={"queries_per_s": 1}) +
               f"\n\n{len(texts)} questions, {same} identical top-10 lists, "
               f"speed-up {sequential / together:.2f}x, {threads} threads.")
    report.data = {"rows": rows, "identical": same, "queries": len(texts),
                   "machine": machine_info(threads)}
    report.write(Path(out))
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="squad-dev")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="reports/query-batching")


def run(args: argparse.Namespace) -> int:
    print(measure(args.dataset, args.queries, args.threads, args.out).markdown())
    return 0
