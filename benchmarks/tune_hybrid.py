"""``nyx-bench tune-hybrid``: choose the hybrid dense weight on one half, report the other.

The grid runs over ``dense_weight`` 0.0 .. 1.0 (step 0.05), ``candidates`` 50 and 100 and the
normalisations of :mod:`nyx.benchmarks.hybrid_grid` on the FIRST half of the data set's questions
(in question order); the weight with the best nDCG@10 there is reported with its score on
the SECOND half, which played no part in the choice. Dense (best chunk) and BM25 scores of
every query for every document are computed once, from Nyx's own index, so the grid is numpy
work. A check replays a sample of queries through ``Retriever.search`` and counts how often
the simulated top 10 equals the real one.
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from nyx.benchmarks.environment import Stopwatch, limit_threads, machine_info
from nyx.benchmarks.hybrid_grid import NORMALISATIONS, CandidateScores, candidate_scores, fuse
from nyx.benchmarks.hybrid_grid import ranking_metrics as grid_metrics
from nyx.benchmarks.report import Report, line_chart, markdown_table

logger = logging.getLogger(__name__)

__all__ = ["TuneSettings", "add_arguments", "run", "tune"]


@dataclass
class TuneSettings:
    dataset: str = "squad-dev"
    limit: int | None = None
    out: str = "reports/tune-hybrid"
    step: float = 0.05
    candidates: tuple[int, ...] = (50, 100)
    objective: str = "ndcg@10"
    check_queries: int = 100
    threads: int = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="squad-dev", help="squad-dev or beir:DIR")
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    parser.add_argument("--out", default="reports/tune-hybrid")
    parser.add_argument("--step", type=float, default=0.05, help="weight grid step")
    parser.add_argument("--check-queries", type=int, default=100,
                        help="queries replayed through Retriever.search to validate the grid")
    parser.add_argument("--threads", type=int, default=1)


def _weights(step: float) -> list[float]:
    n = round(1.0 / step)
    if not math.isclose(n * step, 1.0):
        raise ValueError(f"--step must divide 1.0, got {step}")
    return [round(i * step, 6) for i in range(n + 1)]


def _dense_full(query_vectors: np.ndarray, chunk_vectors: np.ndarray,
                n_vectors: list[int]) -> np.ndarray:
    """Each document's dense score: the best of its chunks (as ``Retriever`` scores it)."""
    offsets = np.concatenate([[0], np.cumsum(n_vectors)[:-1]]).astype(np.int64)
    out = np.empty((len(query_vectors), len(n_vectors)), dtype=np.float32)
    for start in range(0, len(query_vectors), 1024):
        block = query_vectors[start:start + 1024] @ chunk_vectors.T
        out[start:start + 1024] = np.maximum.reduceat(block, offsets, axis=1)
    return out


def _lexical_full(lexical: Any, texts: list[str], doc_index: dict[str, int]) -> np.ndarray:
    out = np.zeros((len(texts), len(doc_index)), dtype=np.float64)
    for q, text in enumerate(tqdm(texts, desc="BM25 scores", unit="q")):
        for hit in lexical.search([text], len(doc_index))[0]:
            out[q, doc_index[hit.id]] = hit.score
    return out


def _judgements(query_ids: list[str], doc_ids: list[str], qrels: dict[str, dict[str, int]],
                scores: CandidateScores) -> dict[str, np.ndarray]:
    index = {d: i for i, d in enumerate(doc_ids)}
    gain_of = np.zeros((len(query_ids), len(doc_ids)))
    ideal = np.zeros(len(query_ids))
    n_relevant = np.zeros(len(query_ids))
    for q, qid in enumerate(query_ids):
        grades = sorted((g for g in qrels[qid].values() if g > 0), reverse=True)
        for doc, grade in qrels[qid].items():
            if grade > 0 and doc in index:
                gain_of[q, index[doc]] = grade
        ideal[q] = sum(g / math.log2(r + 2) for r, g in enumerate(grades[:10]))
        n_relevant[q] = len(grades)
    gains = np.take_along_axis(gain_of, np.maximum(scores.docs, 0), axis=1)
    return {"gains": gains, "ideal": ideal, "n_relevant": n_relevant, "valid": scores.docs >= 0}


def _evaluate(scores: CandidateScores, judged: dict[str, np.ndarray], rows: slice,
              weight: float, candidates: int, method: str) -> dict[str, float]:
    part = scores.rows(rows)
    order = fuse(part, weight, candidates, method)
    return grid_metrics(order, judged["gains"][rows], judged["ideal"][rows],
                        judged["n_relevant"][rows], judged["valid"][rows])


def _check_against_retriever(retriever: Any, scores: CandidateScores, texts: list[str],
                             doc_ids: list[str], n: int) -> dict[str, Any]:
    """Replay queries through ``Retriever.search`` and compare top-10 lists with the grid.

    The grid simulates the convex min-max mix; the replay uses that method with the
    retriever's weight and candidates (the shipped default is chosen by ``fusion-domains``)."""
    from nyx.hybrid import HybridConfig

    shipped = retriever.hybrid
    config = retriever.hybrid = HybridConfig(dense_weight=shipped.dense_weight,
                                             candidates=shipped.candidates, method="minmax")
    order = fuse(scores.rows(slice(0, n)), config.dense_weight, config.candidates,
                 config.method)
    same = 0
    for q in range(min(n, len(texts))):
        simulated = [doc_ids[scores.docs[q, c]] for c in order[q, :10] if scores.docs[q, c] >= 0]
        real = [r.id for r in retriever.search(texts[q], k=10, mode="hybrid")]
        same += simulated == real
    return {"queries": min(n, len(texts)), "identical_top10": same, "config": config.to_dict()}


def tune(settings: TuneSettings) -> Report:
    from nyx.benchmarks.datasets import load_dataset
    from nyx.benchmarks.peers import nyx_lite, raw_minilm
    from nyx.benchmarks.retrieval import build_nyx_retriever, load_text_corpus
    from nyx.encoders.towers import MINILM_SHA256
    from nyx.hybrid import DEFAULT_DENSE_WEIGHT

    clock = Stopwatch()
    with clock.phase("prepare"):
        dataset = load_dataset(settings.dataset, limit=settings.limit)
        encoder = nyx_lite()
        corpus = load_text_corpus(dataset, raw_minilm(),
                                  f"all-MiniLM-L6-v2@{MINILM_SHA256[:16]}")
        nyx = build_nyx_retriever(encoder, corpus)
        stored = nyx.retriever.store.get_many(corpus.doc_ids, skip_missing=False)
        n_vectors = [int(d.payload.get("n_vectors", 1)) for d in stored]
    with clock.phase("scores"):
        dense = _dense_full(corpus.query_vectors, nyx.vectors, n_vectors)
        lexical = _lexical_full(nyx.retriever.lexical, corpus.query_texts,
                                {d: i for i, d in enumerate(corpus.doc_ids)})
        scores = candidate_scores(dense, lexical, max(settings.candidates))
        judged = _judgements(corpus.query_ids, corpus.doc_ids, dataset.qrels, scores)
    half = len(corpus.query_ids) // 2
    tune_rows, test_rows = slice(0, half), slice(half, None)
    weights = _weights(settings.step)
    grid: list[dict[str, Any]] = []
    with clock.phase("grid"):
        for method in NORMALISATIONS:
            for c in settings.candidates:
                for w in weights:
                    grid.append({"method": method, "candidates": c, "dense_weight": w,
                                 "tune": _evaluate(scores, judged, tune_rows, w, c, method),
                                 "test": _evaluate(scores, judged, test_rows, w, c, method)})
    with clock.phase("check"):
        check = _check_against_retriever(nyx.retriever, scores, corpus.query_texts,
                                         corpus.doc_ids, settings.check_queries)
    nyx.retriever.close()
    best = _best_per_method(grid, settings.objective)
    return _report(settings, grid, best, check, clock, dataset, encoder, half,
                   len(corpus.query_ids) - half, DEFAULT_DENSE_WEIGHT)


def _best_per_method(grid: list[dict[str, Any]], objective: str) -> dict[str, dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}
    for point in grid:
        current = best.get(point["method"])
        if current is None or point["tune"][objective] > current["tune"][objective] + 1e-12:
            best[point["method"]] = point
    return best


def _point(grid: list[dict[str, Any]], method: str, c: int, w: float) -> dict[str, Any]:
    """The grid point of ``method`` and ``c`` whose weight is nearest ``w``."""
    points = [p for p in grid if p["method"] == method and p["candidates"] == c]
    return min(points, key=lambda p: abs(p["dense_weight"] - w))


def _report(settings: TuneSettings, grid: list[dict[str, Any]], best: dict[str, dict[str, Any]],
            check: dict[str, Any], clock: Stopwatch, dataset: Any, encoder: Any, n_tune: int,
            n_test: int, current_default: float) -> Report:
    obj = settings.objective
    chosen = best["minmax"]
    report = Report("tune-hybrid", f"Hybrid weight tuning on {settings.dataset}")
    report.add("Choice", (
        f"Tuned on the first {n_tune:,} questions, scored on the other {n_test:,}. Objective: "
        f"{obj} on the first half.\n\n**Chosen (minmax, the method Nyx ships): dense_weight = "
        f"{chosen['dense_weight']:.2f}, candidates = {chosen['candidates']}** - {obj} "
        f"{chosen['tune'][obj]:.4f} on the first half, **{chosen['test'][obj]:.4f}** on the "
        f"second half (R@5 {chosen['test']['recall@5']:.4f}). Current default: "
        f"{current_default}. Grid vs `Retriever.search` on {check['queries']} queries: "
        f"{check['identical_top10']} identical top-10 lists."))
    c = chosen["candidates"]
    refs = [("dense only (w=1)", _point(grid, "minmax", c, 1.0)),
            ("BM25 only (w=0)", _point(grid, "minmax", c, 0.0)),
            (f"minmax w={current_default} (current default)",
             _point(grid, "minmax", c, current_default)),
            ("RRF unweighted (w=0.5, Nyx 'rrf')", _point(grid, "rrf", c, 0.5))]
    rows = [{"setting": label, "w": p["dense_weight"], "C": p["candidates"],
             "tune": p["tune"][obj], "test": p["test"][obj], "test_r5": p["test"]["recall@5"],
             "test_r1": p["test"]["recall@1"], "test_mrr": p["test"]["mrr@10"]}
            for label, p in [*[(f"best {m}", b) for m, b in best.items()], *refs]]
    report.add("Best weight per normalisation (and references)", markdown_table(
        rows, ["setting", "w", "C", "tune", "test", "test_r5", "test_r1", "test_mrr"],
        ["setting", "dense weight", "candidates", f"{obj} 1st half", f"{obj} 2nd half",
         "R@5 2nd half", "R@1 2nd half", "MRR@10 2nd half"], digits={"w": 2}))
    table = [{"w": w, **{f"{c}-{s}": _point(grid, "minmax", c, w)[s][obj]
                         for c in settings.candidates for s in ("tune", "test")}}
             for w in _weights(settings.step)]
    cols = [f"{c}-{s}" for c in settings.candidates for s in ("tune", "test")]
    report.add(f"minmax grid ({obj})", markdown_table(
        table, ["w", *cols], ["dense weight", *[f"C={c} {s} half" for c, s in
                                               (k.split("-") for k in cols)]],
        digits={"w": 2, **dict.fromkeys(cols, 4)}))
    report.add("Wall time", markdown_table([{"phase": k, "seconds": v} for k, v in
                                            clock.to_dict().items()], ["phase", "seconds"]))
    out = Path(settings.out)
    lines = {f"{m} C={c} (1st half)": ([p["dense_weight"] for p in grid if p["method"] == m
                                         and p["candidates"] == c],
                                        [p["tune"][obj] for p in grid if p["method"] == m
                                         and p["candidates"] == c])
             for m in NORMALISATIONS for c in settings.candidates}
    report.plots.append(line_chart(
        out / "tune-hybrid-grid.png", lines, f"{settings.dataset}: {obj} vs dense weight",
        "dense weight", obj, markers={"chosen (2nd half)": (chosen["dense_weight"],
                                                            chosen["test"][obj])}))
    report.data = {"settings": asdict(settings), "dataset": dataset.summary(),
                   "encoder": encoder.version, "tune_queries": n_tune, "test_queries": n_test,
                   "chosen": chosen, "best_per_method": best, "grid": grid, "check": check,
                   "current_default": current_default, "machine": machine_info(settings.threads),
                   "wall_s": clock.to_dict()}
    report.write(out)
    return report


def run(args: argparse.Namespace) -> int:
    settings = TuneSettings(dataset=args.dataset, limit=args.limit, out=args.out,
                            step=args.step, check_queries=args.check_queries,
                            threads=args.threads)
    limit_threads(settings.threads)
    report = tune(settings)
    print(report.markdown())
    return 0
