"""Retrieval metrics on embeddings: R@k of queries against a pool of documents."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from nyx.content import Item
from nyx.training.data import side_key, to_item


def hit_rates(query_vectors: np.ndarray, doc_vectors: np.ndarray,
                relevant: Sequence[set[int]], ks: Sequence[int] = (1, 10)) -> dict[str, float]:
    """R@k as image-text retrieval papers report it: the share of queries with at least one
    relevant document among their top ``k`` (:func:`nyx.metrics.hit_at_k`, averaged, computed
    on the score matrix; ties count in the query's favour). Returned as ``{"recall@k": ...}``,
    the name those papers use; :func:`nyx.metrics.recall_at_k` is the IR metric (the share of
    a query's relevant documents found).

    Vectors are L2-normalised rows; ``relevant[i]`` holds the document rows relevant to query i.
    Queries without any relevant document are an error (they would silently lower recall).
    """
    if len(query_vectors) != len(relevant):
        raise ValueError(f"{len(query_vectors)} queries but {len(relevant)} relevance sets")
    if any(not r for r in relevant):
        raise ValueError("every query needs at least one relevant document")
    if not len(query_vectors):
        return {f"recall@{k}": 0.0 for k in ks}
    scores = np.asarray(query_vectors, np.float32) @ np.asarray(doc_vectors, np.float32).T
    # Rank of the best relevant document = number of documents scoring strictly higher.
    best = np.array([scores[i, sorted(r)].max() for i, r in enumerate(relevant)])
    rank = (scores > best[:, None]).sum(axis=1)
    return {f"recall@{k}": float((rank < k).mean()) for k in ks}


def pool_from_pairs(rows: Sequence[dict[str, Any]]) -> tuple[list[Item], list[Item],
                                                              list[set[int]]]:
    """Queries, the distinct positives as the document pool, and relevance by content key.

    Every positive of a query (the same query text may appear on several lines) is relevant.
    """
    doc_rows: dict[int, int] = {}
    docs: list[Item] = []
    for row in rows:
        key = side_key(json.loads(row["positive"]))
        if key not in doc_rows:
            doc_rows[key] = len(docs)
            docs.append(to_item(row["positive"]))
    query_rows: dict[str, int] = {}
    queries: list[Item] = []
    relevant: list[set[int]] = []
    for row in rows:
        if row["query"] not in query_rows:
            query_rows[row["query"]] = len(queries)
            queries.append(to_item(row["query"]))
            relevant.append(set())
        relevant[query_rows[row["query"]]].update(
            doc_rows[k] for k in row["positive_keys"] if k in doc_rows)
    return queries, docs, relevant


@torch.no_grad()
def evaluate_embedder(embedder: Any, rows: Sequence[dict[str, Any]],
                      ks: Sequence[int] = (1, 10), batch_size: int = 64) -> dict[str, float]:
    """Recall@k of a :class:`~nyx.training.embedders.base.TrainableEmbedder` on pair records."""
    queries, docs, relevant = pool_from_pairs(rows)
    was_training = embedder.training
    embedder.eval()
    try:
        q = _embed_all(embedder, queries, True, batch_size)
        d = _embed_all(embedder, docs, False, batch_size)
    finally:
        embedder.train(was_training)
    return hit_rates(q, d, relevant, ks)


def _embed_all(embedder: Any, items: list[Item], is_query: bool, batch_size: int) -> np.ndarray:
    out = []
    for start in range(0, len(items), batch_size):
        vectors = embedder.embed(items[start:start + batch_size], is_query=is_query)
        out.append(torch.nn.functional.normalize(vectors.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, embedder.dim), np.float32)
