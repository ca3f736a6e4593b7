"""``nyx-bench retrieval``: Nyx beside its peers on a text data set, or nyx-lite on images.

Text data sets (``squad-dev``, ``beir:DIR``) run every system of :mod:`nyx.benchmarks.peers` on the
same documents, the same MiniLM vectors and the same queries, and report nDCG@10, R@1/5/20/100,
MRR@10, MAP and single-query latency. Image data sets (``fashion-mnist``, ``easy-vqa``) go to
:mod:`nyx.benchmarks.image_retrieval`.

A document's text is ``title + "\\n\\n" + text`` for every system (BEIR's convention of
using the title). ``--limit N`` keeps the first N queries; the corpus stays whole.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.environment import Stopwatch, limit_threads, machine_info
from nyx.benchmarks.latency import summarize_latencies
from nyx.benchmarks.peers import (
    Bm25sPeer,
    FaissFlatPeer,
    MiniLMNumpyPeer,
    NyxPeer,
    QdrantLocalPeer,
    SystemRun,
    TextCorpus,
    run_interleaved,
)
from nyx.benchmarks.report import Report, bar_chart, markdown_table
from nyx.benchmarks.vector_cache import cached_vectors
from nyx.metrics import evaluate_run

logger = logging.getLogger(__name__)

__all__ = ["NyxIndex", "RetrievalSettings", "add_arguments", "build_nyx_retriever",
           "document_text", "load_text_corpus", "run"]

KS: tuple[int, ...] = (1, 5, 10, 20, 100)
IMAGE_DATASETS = ("fashion-mnist", "easy-vqa")
COLUMNS = ["system", "ndcg@10", "recall@1", "recall@5", "recall@20", "recall@100", "mrr@10",
           "map", "p50_ms", "p99_ms", "encodes_query", "build_s"]
HEADERS = ["system", "nDCG@10", "R@1", "R@5", "R@20", "R@100", "MRR@10", "MAP", "p50 ms",
           "p99 ms", "encodes query", "build s"]


@dataclass
class RetrievalSettings:
    """Everything that decides the numbers of one ``retrieval`` run (saved in the JSON)."""

    dataset: str
    limit: int | None = None
    out: str = "reports/retrieval"
    k: int = 100
    threads: int = 1
    batch_size: int = 64
    ocr: bool = False
    show_progress: bool = True
    #: time every N-th query end to end (1: all); the rest use batch-encoded query vectors
    latency_every: int = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="squad-dev | squad-shifts-amazon | squad-shifts-new-wiki | "
                             "fashion-mnist | easy-vqa | beir:DIR")
    parser.add_argument("--limit", type=int, default=None,
                        help="first N queries (text) or first N images (image data sets)")
    parser.add_argument("--out", default=None, help="report folder (default reports/<dataset>)")
    parser.add_argument("--k", type=int, default=100, help="results per query (default 100)")
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS/FAISS threads")
    parser.add_argument("--ocr", action="store_true", help="image data sets: OCR on")
    parser.add_argument("--latency-every", type=int, default=None,
                        help="time every N-th query end to end; the others are ranked with "
                             "batch-encoded query vectors (default: 1, or 10 above 2,000 "
                             "queries)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def settings_from_args(args: argparse.Namespace) -> RetrievalSettings:
    slug = args.dataset.replace("beir:", "beir-").replace("/", "_").strip("_")
    return RetrievalSettings(dataset=args.dataset, limit=args.limit,
                             out=args.out or f"reports/{slug}", k=args.k, threads=args.threads,
                             ocr=args.ocr, show_progress=not args.no_progress,
                             latency_every=args.latency_every or 0)


def document_text(doc: dict[str, Any]) -> str:
    """The text every system indexes for a document: title and body."""
    return "\n\n".join(part for part in (doc.get("title", ""), doc.get("text", "")) if part)


def load_text_corpus(dataset: Any, model: Any, version: str, batch_size: int = 64,
                     show_progress: bool = True) -> TextCorpus:
    """Documents, queries and their MiniLM vectors (cached on disk by content and version)."""
    doc_ids = list(dataset.corpus)
    doc_texts = [document_text(dataset.corpus[d]) for d in doc_ids]
    query_ids = [q for q in dataset.queries if q in dataset.qrels]
    query_texts = [dataset.queries[q]["text"] for q in query_ids]

    def encode(texts: list[str]) -> Any:
        return lambda: model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=show_progress)

    doc_vectors = cached_vectors("docs", version, doc_texts, encode(doc_texts))
    query_vectors = cached_vectors("queries", version, query_texts, encode(query_texts))
    return TextCorpus(doc_ids, doc_texts, doc_vectors, query_ids, query_texts, query_vectors)


@dataclass
class NyxIndex:
    """A built Retriever, its chunked document vectors and how long ``add`` took."""

    retriever: Any
    vectors: np.ndarray
    add_s: float


def build_nyx_retriever(encoder: Any, corpus: TextCorpus, batch_size: int = 64,
                        show_progress: bool = True) -> NyxIndex:
    """A Retriever holding the corpus. Its (chunked) document vectors come from the cache,
    so ``add_s`` is the indexing time alone."""
    from nyx import Item
    from nyx.retriever import Retriever

    retriever = Retriever(encoder=encoder, index="faiss", lexical=True)
    items = [Item([text], id=doc_id) for doc_id, text in zip(corpus.doc_ids, corpus.doc_texts)]
    vectors = cached_vectors(
        "nyx-chunks", encoder.version, corpus.doc_texts,
        lambda: retriever.encode_for_add(items, batch_size=batch_size,
                                         show_progress=show_progress),
        extra=f"max_words={retriever.max_words}",
    )
    start = time.perf_counter()
    retriever.add(items, vectors=vectors)
    return NyxIndex(retriever, vectors, time.perf_counter() - start)


def _row(system: SystemRun, qrels: dict[str, dict[str, int]]) -> dict[str, Any]:
    scores = evaluate_run(system.run, qrels, KS)
    latency = summarize_latencies(system.latencies_s)
    return {"system": system.name, **scores, "p50_ms": latency.p50_ms, "p99_ms": latency.p99_ms,
            "encodes_query": system.encodes_query, "build_s": system.build_s,
            "description": system.description, "latency": latency.to_dict()}


def _encode_latency(model: Any, texts: list[str], n: int = 300) -> dict[str, Any]:
    from nyx.benchmarks.latency import LatencyRecorder

    recorder = LatencyRecorder()
    for text in texts[:n]:
        with recorder.measure():
            model.encode([text], normalize_embeddings=True, show_progress_bar=False)
    summary = recorder.summary()
    return {"system": "(MiniLM query encoding alone)", "p50_ms": summary.p50_ms,
            "p99_ms": summary.p99_ms, "encodes_query": True, "latency": summary.to_dict()}


def _targets(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = []

    def check(label: str, ok: bool, detail: str) -> None:
        lines.append(f"- {label}: **{'met' if ok else 'NOT met'}** ({detail})")

    if "nyx-dense" in rows and "minilm-numpy" in rows:
        a, b = rows["nyx-dense"]["ndcg@10"], rows["minilm-numpy"]["ndcg@10"]
        check("nyx-dense nDCG@10 >= raw MiniLM", a >= b, f"{a:.4f} vs {b:.4f}")
    for name in ("nyx-hybrid", "nyx-hybrid-rrf"):
        if name in rows and "bm25s" in rows and "nyx-dense" in rows:
            for metric in ("ndcg@10", "recall@5"):
                h = rows[name][metric]
                best = max(rows["bm25s"][metric], rows["nyx-dense"][metric])
                check(f"{name} {metric} above both bm25s and nyx-dense", h > best,
                      f"{h:.4f} vs best single {best:.4f}")
    return lines


def run_text(settings: RetrievalSettings) -> Report:
    from nyx.benchmarks.datasets import load_dataset
    from nyx.benchmarks.peers import nyx_lite, raw_minilm
    from nyx.encoders.towers import MINILM_SHA256
    from nyx.hybrid import HybridConfig

    clock = Stopwatch()
    with clock.phase("load"):
        dataset = load_dataset(settings.dataset, limit=settings.limit)
        encoder = nyx_lite()
        raw_model = raw_minilm()
    raw_version = f"all-MiniLM-L6-v2@{MINILM_SHA256[:16]}"
    with clock.phase("encode"):
        corpus = load_text_corpus(dataset, raw_model, raw_version, settings.batch_size,
                                  settings.show_progress)
        nyx_index = build_nyx_retriever(encoder, corpus, settings.batch_size,
                                        settings.show_progress)
    retriever = nyx_index.retriever
    peers = [Bm25sPeer(), MiniLMNumpyPeer(raw_model), QdrantLocalPeer(), FaissFlatPeer(),
             NyxPeer("nyx-dense", retriever, "dense"),
             NyxPeer("nyx-hybrid-rrf", retriever, "hybrid", HybridConfig(method="rrf", rrf_k=60)),
             NyxPeer("nyx-hybrid", retriever, "hybrid", HybridConfig())]
    rows: dict[str, dict[str, Any]] = {}
    with clock.phase("systems (interleaved)"):
        if settings.latency_every < 1:
            settings.latency_every = 10 if len(corpus.query_ids) > 2000 else 1
        results = run_interleaved(peers, corpus, settings.k, settings.show_progress,
                                  settings.latency_every)
    for result in results:
        if result.name.startswith("nyx-"):
            result.build_s = nyx_index.add_s  # one Retriever serves the three nyx systems
        rows[result.name] = _row(result, dataset.qrels)
    with clock.phase("encode-latency"):
        encode_row = _encode_latency(raw_model, corpus.query_texts)
    retriever.close()

    out = Path(settings.out)
    report = Report("retrieval", f"Retrieval on {settings.dataset}")
    table = markdown_table([*rows.values(), encode_row], COLUMNS, HEADERS,
                           digits={"p50_ms": 2, "p99_ms": 2, "build_s": 1})
    report.add("Results", f"{len(corpus.query_ids):,} queries, {len(corpus.doc_ids):,} "
               f"documents, top {settings.k}; encoder `{encoder.version}`; "
               f"{settings.threads} thread(s). Build times exclude document encoding (done "
               "once, cached, shared by every dense system); `nyx-*` share one Retriever. Every "
               "query is asked of every system in turn (rotating order), so load drift on the "
               f"shared machine hits all systems alike. Latency: every {settings.latency_every}"
               "-th query timed end to end (query encoding included for text-input systems); "
               "the other queries are ranked with the batch-encoded vector of the same model."
               f"\n\n{table}")
    report.add("Targets", "\n".join(_targets(rows)) or "(no targets for this system set)")
    report.add("Systems", "\n".join(f"- `{r['system']}`: {r['description']}"
                                    for r in rows.values()))
    report.add("Wall time", markdown_table(
        [{"phase": k, "seconds": v} for k, v in clock.to_dict().items()], ["phase", "seconds"],
        digits={"seconds": 1}))
    names = list(rows)
    report.plots.append(bar_chart(
        out / "retrieval-quality.png", names,
        {m: [rows[n][m] for n in names] for m in ("ndcg@10", "recall@5")},
        f"{settings.dataset}: nDCG@10 and R@5 per system ({len(corpus.query_ids):,} queries)"))
    report.data = {"settings": asdict(settings), "dataset": dataset.summary(),
                   "encoder": {**encoder.info(), "raw_minilm": raw_version},
                   "hybrid_default": HybridConfig().to_dict(), "machine": machine_info(
                       settings.threads), "systems": rows, "query_encoding": encode_row,
                   "wall_s": clock.to_dict(),
                   "mean_doc_vector_norm": float(np.linalg.norm(corpus.doc_vectors, axis=1).mean())}
    report.write(out)
    return report


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    limit_threads(settings.threads)
    if settings.dataset in IMAGE_DATASETS:
        from nyx.benchmarks.image_retrieval import run_images

        report = run_images(settings)
    else:
        report = run_text(settings)
    print(report.markdown())
    print(f"\nwrote {settings.out}/{report.name}.md, .json and {len(report.plots)} plot(s)")
    return 0
