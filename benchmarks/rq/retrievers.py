"""Nyx's retriever for RQ6, built from the benchmark vector cache, and ranking evaluation.

Embedding SQuAD-dev's 2,067 paragraphs with nyx-lite takes minutes on a busy 2-core machine.
``nyx-bench retrieval`` already keeps those vectors on disk
(:func:`nyx.benchmarks.retrieval.build_nyx_retriever`), so :class:`CachedNyxRetriever` builds the
same Retriever from them (and adds them to the cache when they are missing). It returns each
passage as the corpus holds it, with the same text and title BM25 returns, so a pipeline's
prompt differs between retrievers only by which passages were found.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from nyx.benchmarks.rq.data import TaskData
from nyx.ensemble.retrievers.base import Query, RetrieverModule
from nyx.ensemble.retrievers.nyx_retriever import NyxRetriever
from nyx.metrics import evaluate_run
from nyx.results import SearchResult
from nyx.search_options import SearchOptions

logger = logging.getLogger(__name__)

__all__ = ["CachedNyxRetriever", "ranking_scores"]


class CachedNyxRetriever(NyxRetriever):
    """``{type: nyx_cached, corpus: corpus, mode: dense}``: Nyx (nyx-lite) over a corpus, its
    document vectors shared with ``nyx-bench retrieval`` through the vector cache."""

    config_type = "nyx_cached"

    def load(self) -> Any:
        if self.retriever is None and self.corpus is not None:
            from nyx.benchmarks.peers import TextCorpus, nyx_lite
            from nyx.benchmarks.retrieval import build_nyx_retriever, document_text

            ids = self.corpus.ids()
            texts = [document_text(self.corpus.docs[i]) for i in ids]
            empty = np.zeros((0, 0), dtype=np.float32)
            corpus = TextCorpus(ids, texts, empty, [], [], empty)
            self.retriever = build_nyx_retriever(nyx_lite(), corpus, show_progress=False).retriever
        return super().load()

    def _retrieve_batch(self, queries: list[Query], k: int, filter: dict[str, Any] | None,
                        options: SearchOptions) -> list[list[SearchResult]]:
        found = super()._retrieve_batch(queries, k, filter, options)
        if self.corpus is None:
            return found
        corpus = self.corpus
        return [[corpus.doc(h.id, float(h.score)) for h in hits] for hits in found]


def ranking_scores(retriever: RetrieverModule, data: TaskData, ks: Sequence[int],
                   progress: bool = True) -> dict[str, Any]:
    """Recall@k, MRR and nDCG of ``retriever`` on the task's questions, and its wall time."""
    depth = max(ks)
    start = time.perf_counter()
    run = {qid: [d.id for d in retriever.retrieve(question, depth)]
           for qid, question in tqdm(data.questions.items(), desc=f"rank {retriever!r}"[:40],
                                     disable=not progress, leave=False)}
    scores = evaluate_run(run, data.qrels, ks)
    scores["wall_s"] = time.perf_counter() - start
    return scores
