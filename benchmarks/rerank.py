"""``nyx-bench rerank``: what the cross-encoder buys over the shipped hybrid, and what it costs.

For each domain a real :class:`nyx.Retriever` (nyx-lite, FAISS flat, BM25, the shipped fusion)
is built over the corpus (document vectors from the benchmark cache), and a fixed sample of
questions (seed 1) is searched. The top ``N`` of the first stage are re-scored by
:class:`nyx.rerank.CrossEncoder` for N in ``--depths``; nDCG@10, R@1 and MRR@10 are reported
per N, with end-to-end p50 latency of ``Retriever.search(q, k=10, rerank=True)`` measured on
``--timed`` questions per N (single query, warm models, ``--threads`` threads).

``--max-length 256,128`` compares cross-encoder windows in one run: every setting scores the same
questions, and the timed searches alternate between settings question by question (so a busy
machine slows them alike); the default is the shipped ``CrossEncoder`` default.
``--passage-windows head,focus`` compares how a passage longer than the window is cut (its
head, or the part around the query's words: :mod:`nyx.passage_window`) at every window; column
"passage read". ``--models
minilm-l12,student-l6`` compares cross-encoders the same way (every model x window is a setting).
Each setting is reported by the cross-encoder's order alone (blend 1) and blended with the
first stage as ``search`` does by default (:data:`nyx.rerank.DEFAULT_RERANK_BLEND`), the blend
both over all N and re-scoring only the top :data:`nyx.rerank.CONFIDENT_DEPTH` of a query whose
first stage is confident (``set_reranker(confident_margin=CONFIDENT_MARGIN)``, opt-in;
:func:`nyx.hits.confident_window`; column "window"), with the share of such questions and the
pairs read per question; p50 is timed for both windows.
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
from nyx.benchmarks.report import Report, markdown_table
from nyx.benchmarks.vector_cache import cached_vectors

logger = logging.getLogger(__name__)

__all__ = ["RerankSettings", "add_arguments", "build_domain_retriever", "run"]


@dataclass
class RerankSettings:
    domains: tuple[str, ...] = ("squad-dev", "squad-shifts-amazon", "squad-shifts-new-wiki")
    queries: int = 200
    depths: tuple[int, ...] = (5, 10, 20, 30)
    timed: int = 40
    seed: int = 1
    threads: int = 2
    out: str = "reports/rerank"
    #: cross-encoder windows (tokens) to compare; empty: the CrossEncoder default
    max_lengths: tuple[int, ...] = ()
    #: how passages longer than the window are cut, each compared at every window
    #: (``nyx.rerank.PASSAGE_WINDOWS``); empty: the CrossEncoder default
    passage_windows: tuple[str, ...] = ()
    #: cross-encoders to compare (``CrossEncoder(model=...)``); empty: the default
    models: tuple[str, ...] = ()


def build_domain_retriever(name: str, encoder: Any) -> tuple[Any, Any]:
    """A Retriever over one domain's corpus (vectors from the benchmark cache) and the set."""
    from nyx import Item, Retriever
    from nyx.benchmarks.datasets import load_dataset
    from nyx.benchmarks.domain_data import document_pieces
    from nyx.benchmarks.retrieval import document_text

    dataset = load_dataset(name)
    doc_ids = list(dataset.corpus)
    texts = [document_text(dataset.corpus[d]) for d in doc_ids]
    pieces, _ = document_pieces(texts)
    vectors = cached_vectors(f"{name}-chunks", encoder.version, pieces,
                             lambda: encoder.encode_documents(pieces, batch_size=64,
                                                              show_progress=True))
    retriever = Retriever(encoder=encoder)
    retriever.add([Item([t], {}, d) for d, t in zip(doc_ids, texts)], vectors=vectors)
    return retriever, dataset


def _metrics(ranked: list[list[str]], gold: list[str]) -> dict[str, float]:
    ranks = [r.index(g) + 1 if g in r[:10] else 0 for r, g in zip(ranked, gold)]
    return {"ndcg@10": float(np.mean([1 / np.log2(k + 1) if k else 0.0 for k in ranks])),
            "recall@1": float(np.mean([k == 1 for k in ranks])),
            "mrr@10": float(np.mean([1 / k if k else 0.0 for k in ranks]))}


def evaluate(settings: RerankSettings) -> Report:
    from nyx.benchmarks.peers import nyx_lite
    from nyx.hits import blend_scores, confident_window
    from nyx.rerank import CONFIDENT_DEPTH, CONFIDENT_MARGIN, DEFAULT_RERANK_BLEND, CrossEncoder

    clock = Stopwatch()
    encoder = nyx_lite()
    default = CrossEncoder()
    lengths = settings.max_lengths or (default.max_length,)
    cuts = settings.passage_windows or (default.passage_window,)
    models = settings.models or (default.model,)
    # one reranker per model and window, the window labelled "focus 128" (cut, tokens)
    rerankers = {(m, f"{cut} {length}"): CrossEncoder(model=m, max_length=length,
                                                      passage_window=cut,
                                                      num_threads=settings.threads).load()
                 for m in models for length in lengths for cut in cuts}
    rows: list[dict[str, Any]] = []
    for name in settings.domains:
        with clock.phase(f"{name}: build"):
            retriever, dataset = build_domain_retriever(name, encoder)
        qids = list(dataset.queries)
        rng = np.random.default_rng(settings.seed)
        qids = [qids[i] for i in sorted(rng.choice(len(qids), min(settings.queries,
                                                                   len(qids)), replace=False))]
        texts = [dataset.queries[q]["text"] for q in qids]
        gold = [next(d for d, g in dataset.qrels[q].items() if g > 0) for q in qids]
        deepest = max(settings.depths)
        with clock.phase(f"{name}: first stage"):
            first = retriever.search(texts, k=deepest, rerank=False)
        scores = {}
        for (m, w), reranker in rerankers.items():
            with clock.phase(f"{name}: cross-encoder {m} {w}"):
                scores[m, w] = [reranker.score(t, [h.text for h in hits])
                                for t, hits in zip(texts, first)]
        base = _metrics([[h.id for h in hits] for hits in first], gold)
        p50_first = _p50(retriever, {None: None}, texts[:settings.timed])[None]
        rows.append({"domain": name, "N": 0, "model": "-", "max_length": "-", "blend": "-",
                     "window": "-", **base, "confident": float("nan"), "pairs": 0.0,
                     "p50_ms": p50_first})
        windows_timed = {"all": None, "confident": CONFIDENT_MARGIN}
        for depth in settings.depths:
            p50 = _p50(retriever, {(key, scope): (r, depth, DEFAULT_RERANK_BLEND, margin)
                                   for key, r in rerankers.items()
                                   for scope, margin in windows_timed.items()},
                       texts[:settings.timed])
            for (m, w) in rerankers:
                for blend, window in ((1.0, "all"), (DEFAULT_RERANK_BLEND, "all"),
                                      (DEFAULT_RERANK_BLEND, "confident")):
                    ranked, read, confident = [], [], []
                    for hits, s in zip(first, scores[m, w]):
                        top = hits[:depth]
                        n = len(top) if window == "all" else confident_window(
                            [h.score for h in top], CONFIDENT_MARGIN,
                            CONFIDENT_DEPTH)
                        mixed = blend_scores(np.array([h.score for h in top[:n]]),
                                             np.asarray(s[:n]), blend)
                        order = sorted(range(n), key=lambda j: (-float(mixed[j]), j))
                        ranked.append([top[j].id for j in order] + [h.id for h in hits[n:]])
                        read.append(n)
                        confident.append(n < len(top))
                    rows.append({"domain": name, "N": depth, "model": m, "max_length": w,
                                 "blend": blend, "window": window, **_metrics(ranked, gold),
                                 "confident": float(np.mean(confident)),
                                 "pairs": float(np.mean(read)),
                                 "p50_ms": p50[(m, w), window]
                                 if blend == DEFAULT_RERANK_BLEND else float("nan")})
        retriever.close()
    report = Report("rerank", "Cross-encoder reranking over the shipped hybrid")
    report.add("nDCG@10, R@1, MRR@10 and p50 latency against N (N=0: no reranking)",
               markdown_table(rows, ["domain", "N", "model", "max_length", "blend", "window",
                                     "ndcg@10", "recall@1", "mrr@10", "confident", "pairs",
                                     "p50_ms"],
                              ["domain", "N reranked", "cross-encoder", "passage read",
                               "CE weight", "window", "nDCG@10", "R@1", "MRR@10",
                               "confident share", "pairs read / question", "p50 ms / query"],
                              digits={"p50_ms": 1, "pairs": 1}))
    report.data = {"settings": asdict(settings), "rows": rows,
                   "rerankers": [repr(r) for r in rerankers.values()],
                   "machine": machine_info(settings.threads), "wall_s": clock.to_dict()}
    report.write(Path(settings.out))
    return report


def _p50(retriever: Any, settings: dict[Any, Any], texts: list[str]) -> dict[Any, float]:
    """p50 ms of ``search(text, k=10)`` per setting (the arguments of ``set_reranker``, or
    None: no reranking),
    the settings taking turns question by question, first one rotating."""
    keys = list(settings)
    times: dict[Any, list[float]] = {key: [] for key in keys}
    for i, text in enumerate(texts):
        for key in keys[i % len(keys):] + keys[:i % len(keys)]:
            if settings[key] is not None:
                retriever.set_reranker(*settings[key])
            start = time.perf_counter()
            retriever.search(text, k=10, rerank=settings[key] is not None)
            times[key].append((time.perf_counter() - start) * 1000)
    return {key: float(np.median(t)) if t else float("nan") for key, t in times.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domains", default=",".join(RerankSettings.domains))
    parser.add_argument("--queries", type=int, default=200, help="questions per domain")
    parser.add_argument("--depths", default="5,10,20,30", help="N values to rerank")
    parser.add_argument("--timed", type=int, default=40, help="questions timed per N")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-length", default="",
                        help="cross-encoder windows in tokens to compare, e.g. 256,128 "
                             "(default: the CrossEncoder default)")
    parser.add_argument("--passage-windows", default="",
                        help="how a passage longer than the window is cut, compared at every "
                             "--max-length: focus (around the query's words), head; e.g. "
                             "head,focus (default: the CrossEncoder default)")
    parser.add_argument("--models", default="",
                        help="cross-encoders to compare, e.g. minilm-l12,student-l6 "
                             "(default: the CrossEncoder default)")
    parser.add_argument("--out", default="reports/rerank")


def run(args: argparse.Namespace) -> int:
    settings = RerankSettings(domains=tuple(args.domains.split(",")), queries=args.queries,
                              depths=tuple(int(x) for x in args.depths.split(",")),
                              timed=args.timed, threads=args.threads, out=args.out,
                              max_lengths=tuple(int(x) for x in args.max_length.split(",")
                                                if x.strip()),
                              models=tuple(x for x in args.models.split(",") if x.strip()),
                              passage_windows=tuple(x for x in args.passage_windows.split(",")
                                                    if x.strip()))
    limit_threads(settings.threads)
    print(evaluate(settings).markdown())
    return 0
