"""``nyx-bench text-tower``: nyx-lite's text tower on torch, onnxruntime fp32 and int8.

Speed, on the same texts in one process (each setting timed in turn, best of ``--repeats``):
questions embedded as one list (queries/s), one question per call (p50 ms), and passages
(passages/s). Quality, per domain (SQuAD-dev and the two SQuADShifts domains): dense and
hybrid nDCG@10 of an index embedded with fp32 and one embedded with int8 over the same
questions, with the paired bootstrap interval of int8 - fp32. Nothing was tuned on these
questions: the int8 setting is onnxruntime's dynamic quantisation of every matrix product.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.bootstrap import paired_bootstrap
from nyx.benchmarks.encoder_speed import best_of
from nyx.benchmarks.environment import Stopwatch, limit_threads, machine_info
from nyx.benchmarks.fusion_domains import DOMAIN_NAMES
from nyx.benchmarks.report import Report, markdown_table

logger = logging.getLogger(__name__)

__all__ = ["add_arguments", "run"]


def speed(questions: list[str], passages: list[str], repeats: int) -> list[dict[str, Any]]:
    """Each tower's queries/s on the list, single-question p50 and passages/s."""
    from nyx.encoders.minilm_onnx import OnnxMiniLM
    from nyx.encoders.towers import load_text_tower, minilm_dir

    towers: dict[str, Any] = {}
    for precision in ("fp32", "int8"):
        model = OnnxMiniLM(minilm_dir(), precision)
        towers[f"onnxruntime {precision}"] = (
            lambda texts, b, m=model: m.encode(texts, batch_size=b))
    # torch last: its OpenMP threads keep spinning after a call and would slow the others
    torch_tower = load_text_tower("cpu")
    towers["torch (sentence-transformers)"] = lambda texts, b: torch_tower.encode(
        texts, batch_size=b, convert_to_numpy=True, normalize_embeddings=True)
    rows = []
    for name, encode in towers.items():
        encode(questions[:32], 32)  # warm up
        listed = best_of(lambda e=encode: e(questions, 64), repeats)
        singles = []
        for q in questions[:200]:
            start = time.perf_counter()
            encode([q], 1)
            singles.append(time.perf_counter() - start)
        docs = best_of(lambda e=encode: e(passages, 32), repeats)
        rows.append({"tower": name, "queries_per_s": len(questions) / listed,
                     "single_p50_ms": 1000 * statistics.median(singles),
                     "passages_per_s": len(passages) / docs})
        logger.info("%s: %s", name, rows[-1])
    return rows


def _ndcg(retriever: Any, dataset: Any, query_ids: list[str], mode: str) -> np.ndarray:
    from nyx.metrics import ndcg_at_k

    hits = retriever.search([dataset.queries[q]["text"] for q in query_ids], k=10, mode=mode)
    return np.asarray([ndcg_at_k([h.id for h in ranked], dataset.qrels.get(q, {}), 10)
                       for q, ranked in zip(query_ids, hits)])


def quality(domains: list[str], queries: int) -> list[dict[str, Any]]:
    """Dense and hybrid nDCG@10 with fp32 and int8 indexes, per domain."""
    from nyx import load_encoder
    from nyx.benchmarks.rerank import build_domain_retriever

    encoders = {p: load_encoder("nyx-lite", text_precision=p) for p in ("fp32", "int8")}
    rows = []
    for name in domains:
        results: dict[str, dict[str, np.ndarray]] = {}
        for precision, encoder in encoders.items():
            retriever, dataset = build_domain_retriever(name, encoder)
            query_ids = [q for q in dataset.queries if dataset.qrels.get(q)][:queries]
            results[precision] = {m: _ndcg(retriever, dataset, query_ids, m)
                                  for m in ("dense", "hybrid")}
            retriever.close()
        for mode in ("dense", "hybrid"):
            a, b = results["int8"][mode], results["fp32"][mode]
            lo, hi = paired_bootstrap(a, b)
            rows.append({"domain": name, "mode": mode, "questions": len(a),
                         "fp32": float(b.mean()), "int8": float(a.mean()),
                         "delta": f"{a.mean() - b.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]"})
    return rows


def measure(domains: list[str], queries: int, repeats: int, threads: int,
            out: str) -> Report:
    from nyx.benchmarks.datasets import load_dataset
    from nyx.benchmarks.retrieval import document_text

    limit_threads(threads)
    clock = Stopwatch()
    squad = load_dataset("squad-dev")
    questions = [q["text"] for q in list(squad.queries.values())[:1000]]
    passages = [document_text(squad.corpus[d]) for d in list(squad.corpus)[:200]]
    with clock.phase("speed"):
        fast = speed(questions, passages, repeats)
    with clock.phase("quality"):
        good = quality(domains, queries)
    report = Report("text-tower", "nyx-lite's text tower: torch, onnxruntime fp32 and int8")
    report.add("Speed", markdown_table(
        fast, ["tower", "queries_per_s", "single_p50_ms", "passages_per_s"],
        ["tower", "1,000 questions as one list (queries/s)", "one question per call (p50 ms)",
         "200 SQuAD passages (passages/s)"],
        digits={"queries_per_s": 0, "single_p50_ms": 2, "passages_per_s": 1}))
    report.add("Quality (nDCG@10)", markdown_table(
        good, ["domain", "mode", "questions", "fp32", "int8", "delta"],
        ["domain", "mode", "questions", "fp32", "int8", "int8 - fp32 [95%]"],
        digits={"fp32": 3, "int8": 3}))
    report.data = {"speed": fast, "quality": good, "seconds": clock.to_dict(),
                   "machine": machine_info(threads)}
    report.write(Path(out))
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domains", default=",".join(DOMAIN_NAMES),
                        help="comma-separated domains for the quality table")
    parser.add_argument("--queries", type=int, default=1000, help="questions per domain")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs, best kept")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="reports/text-tower")


def run(args: argparse.Namespace) -> int:
    domains = [d for d in args.domains.split(",") if d]
    print(measure(domains, args.queries, args.repeats, args.threads, args.out).markdown())
    return 0
