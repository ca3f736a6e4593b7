"""Ranked-retrieval metrics: recall, precision, nDCG, MRR, hit rate and MAP.

Conventions (shared by every metric here, and matching ``trec_eval`` where it has one):

* **Relevance.** ``qrels[qid][doc_id]`` is a graded relevance integer. A grade ``> 0`` means
  relevant; ``0`` or negative grades (BEIR qrels contain zeros) mean judged non-relevant.
* **Ranks.** A run lists doc ids best first; rank ``i`` is position ``i`` in that list (1-based).
  Scores are not consulted, so **ties keep the order given** - sort your run (and break ties
  deterministically) before evaluating.
* **Duplicates.** A doc id that appears again later in a run occupies its rank but earns nothing:
  only its first occurrence can be relevant, so repeating a good document never raises a score.
* **Empty result lists** score 0 on every metric.
* **Queries without relevant documents** (absent from the qrels, or judged only with grades
  ``<= 0``) are **excluded** from averages - every metric here is undefined for them.
  Queries that *have* relevant documents but are missing from the run are scored as empty
  results (0), so dropping hard queries never helps a system.
* **nDCG** uses linear gains (the grade itself) and the ``log2(rank + 1)`` discount; the ideal
  DCG sorts all of the query's grades from the qrels, so unretrieved relevant documents lower it.
* **precision@k** divides by ``k`` even when fewer than ``k`` results were returned.
* **MAP** averages precision at the rank of each relevant document over *all* relevant
  documents of the query (a relevant document never retrieved contributes precision 0); it uses
  the whole ranked list, without a cutoff.

Answer metrics (exact match, token F1) live in :mod:`nyx.answer_metrics`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence

logger = logging.getLogger(__name__)

DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20, 100)
#: Metric families computed at each cutoff ``k``; ``map`` has no cutoff.
CUTOFF_METRICS: tuple[str, ...] = ("recall", "precision", "ndcg", "mrr", "hit")

__all__ = [
    "CUTOFF_METRICS",
    "DEFAULT_KS",
    "average_precision",
    "dcg_at_k",
    "evaluate_run",
    "hit_at_k",
    "metric_names",
    "mrr_at_k",
    "ndcg_at_k",
    "per_query_metrics",
    "precision_at_k",
    "query_metrics",
    "recall_at_k",
]


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"cutoff k must be a positive integer, got {k!r}")


def _gains(ranked: Sequence[str], relevance: Mapping[str, int]) -> list[int]:
    """The gain at each rank: the doc's grade if > 0 and first seen there, else 0."""
    seen: set[str] = set()
    gains: list[int] = []
    for doc_id in ranked:
        grade = relevance.get(doc_id, 0) if doc_id not in seen else 0
        seen.add(doc_id)
        gains.append(grade if grade > 0 else 0)
    return gains


def _num_relevant(relevance: Mapping[str, int]) -> int:
    return sum(1 for grade in relevance.values() if grade > 0)


def _hits_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> int:
    _check_k(k)
    return sum(1 for gain in _gains(ranked[:k], relevance) if gain > 0)


def recall_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """Fraction of the query's relevant documents found in the top ``k``."""
    total = _num_relevant(relevance)
    return _hits_at_k(ranked, relevance, k) / total if total else 0.0


def precision_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """Relevant documents in the top ``k``, divided by ``k`` (not by the list length)."""
    return _hits_at_k(ranked, relevance, k) / k


def hit_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """1.0 if any relevant document is in the top ``k``, else 0.0."""
    return 1.0 if _hits_at_k(ranked, relevance, k) else 0.0


def mrr_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document within the top ``k`` (0 if none)."""
    _check_k(k)
    for rank, gain in enumerate(_gains(ranked[:k], relevance), start=1):
        if gain > 0:
            return 1.0 / rank
    return 0.0


def dcg_at_k(gains: Iterable[float], k: int) -> float:
    """Discounted cumulative gain of the first ``k`` gains: ``sum(g_i / log2(i + 1))``."""
    _check_k(k)
    total = 0.0
    for rank, gain in enumerate(gains, start=1):
        if rank > k:
            break
        total += gain / math.log2(rank + 1)
    return total


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """DCG of the run's top ``k`` over the DCG of the ideal ordering of the qrels' grades."""
    ideal = sorted((grade for grade in relevance.values() if grade > 0), reverse=True)
    ideal_dcg = dcg_at_k(ideal, k)
    if ideal_dcg == 0.0:
        return 0.0
    return dcg_at_k(_gains(ranked[:k], relevance), k) / ideal_dcg


def average_precision(ranked: Sequence[str], relevance: Mapping[str, int]) -> float:
    """Mean of precision@rank over all relevant documents; unretrieved ones count as 0."""
    total = _num_relevant(relevance)
    if not total:
        return 0.0
    hits = 0
    precision_sum = 0.0
    for rank, gain in enumerate(_gains(ranked, relevance), start=1):
        if gain > 0:
            hits += 1
            precision_sum += hits / rank
    return precision_sum / total


def metric_names(ks: Sequence[int] = DEFAULT_KS) -> list[str]:
    """The keys :func:`query_metrics` returns, in a stable order (``ndcg@10``, ..., ``map``)."""
    for k in ks:
        _check_k(k)
    return [f"{name}@{k}" for name in CUTOFF_METRICS for k in ks] + ["map"]


def query_metrics(
    ranked: Sequence[str], relevance: Mapping[str, int], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """Every metric for one query, keyed like ``"recall@10"`` and ``"map"``."""
    functions = {
        "recall": recall_at_k,
        "precision": precision_at_k,
        "ndcg": ndcg_at_k,
        "mrr": mrr_at_k,
        "hit": hit_at_k,
    }
    scores = {
        f"{name}@{k}": functions[name](ranked, relevance, k) for name in CUTOFF_METRICS for k in ks
    }
    scores["map"] = average_precision(ranked, relevance)
    return scores


def _check_run_entry(qid: str, ranked: object) -> Sequence[str]:
    if isinstance(ranked, (str, bytes)) or not isinstance(ranked, Sequence):
        raise TypeError(
            f"run[{qid!r}] must be a list of doc ids ranked best first, got "
            f"{type(ranked).__name__}; convert score dicts with "
            "sorted(scores, key=scores.get, reverse=True)"
        )
    return ranked


def per_query_metrics(
    run: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, dict[str, float]]:
    """Metrics for every query that has at least one relevant document in ``qrels``.

    Queries missing from ``run`` are scored as empty result lists; run entries for queries
    without relevant documents are ignored (see the module docstring).
    """
    metric_names(ks)  # validates the cutoffs once, before any work
    results: dict[str, dict[str, float]] = {}
    missing = 0
    for qid, relevance in qrels.items():
        if not _num_relevant(relevance):
            continue
        if qid not in run:
            missing += 1
            ranked: Sequence[str] = ()
        else:
            ranked = _check_run_entry(qid, run[qid])
        results[qid] = query_metrics(ranked, relevance, ks)
    if missing:
        logger.warning("%d judged queries are missing from the run; scored as empty", missing)
    return results


def evaluate_run(
    run: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """Average every metric over the queries that have relevant documents.

    Args:
        run: query id -> doc ids, best first (ties in score: order as given).
        qrels: query id -> {doc id: graded relevance}; grades ``> 0`` are relevant.
        ks: cutoffs for the ``@k`` metrics.

    Returns:
        ``{"recall@1": ..., ..., "map": ..., "num_queries": n}`` where ``num_queries`` counts
        the queries averaged over. With no evaluable query every metric is ``nan``.
    """
    scores = per_query_metrics(run, qrels, ks)
    names = metric_names(ks)
    if not scores:
        logger.warning("no query in the qrels has a relevant document; metrics are nan")
        return {**dict.fromkeys(names, math.nan), "num_queries": 0}
    averaged = {name: sum(s[name] for s in scores.values()) / len(scores) for name in names}
    averaged["num_queries"] = len(scores)
    return averaged
