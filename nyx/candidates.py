"""The candidates of one search: dense hits by each document's best chunk, BM25 hits, and
their fusion (:mod:`nyx.hybrid`), for :meth:`nyx.Retriever.search`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from nyx.hybrid import fuse_scores
from nyx.ids import document_id, vector_ids
from nyx.indexes import Filter, Hit
from nyx.served_hybrid import served_hybrid_search, serves_hybrid

if TYPE_CHECKING:
    from nyx.content import Item
    from nyx.rerank import CrossEncoder
    from nyx.retriever import Modality, Mode, Retriever

__all__ = ["best_chunks", "dense_many", "depth", "has_text", "ids_with", "lexical_candidates",
           "rank", "resolve_mode"]


def resolve_mode(r: Retriever, item: Item, mode: Mode) -> Mode:
    """``auto`` -> hybrid for a query with text (when there is a lexical index), else dense;
    lexical and hybrid need text."""
    text = item.text
    if mode == "auto":
        return "hybrid" if text and r.lexical is not None else "dense"
    if mode in ("lexical", "hybrid") and not text:
        raise ValueError(f"{mode} search needs a query with text; search an image with "
                         "mode dense (or auto)")
    return mode


def depth(r: Retriever, item: Item, k: int, mode: Mode, reranker: CrossEncoder | None,
          rerank_depth: int | None = None) -> int:
    """How many documents each ranking must deliver for this query (``rerank_depth``: how
    many the reranker re-scores; default the retriever's ``rerank_candidates``)."""
    wanted = max(k, rerank_depth or r.rerank_candidates) if reranker is not None and \
        item.text else k
    return max(wanted, r.hybrid.candidates) if mode == "hybrid" else wanted


def rank(r: Retriever, text: str, mode: Mode, n: int, flt: Filter | None,
         query_vector: np.ndarray | None, allowed: set[str] | None,
         dense_hits: dict[str, float] | None = None,
         lexical_ids: Iterable[str] | None = None
          ) -> tuple[list[tuple[str, float]], dict[str, float], dict[str, float]]:
    """The ``n`` best ``(id, score)`` pairs, with the dense and lexical scores seen."""
    dense: dict[str, float] = {}
    lexical: dict[str, float] = {}
    # both rankings come from Qdrant (not for a modality-restricted search: local path)
    served = mode == "hybrid" and allowed is None and serves_hybrid(r)
    if mode in ("dense", "hybrid") and not served:
        assert query_vector is not None
        dense = (dict(dense_hits) if dense_hits is not None
                 else dense_one(r, query_vector, n, flt, allowed))
    if mode in ("lexical", "hybrid") and not served:
        lexical = lexical_scores(r, text, n, lexical_ids)
    if mode == "dense":
        ranked = sorted(dense.items(), key=lambda kv: -kv[1])
    elif mode == "lexical":
        ranked = sorted(lexical.items(), key=lambda kv: -kv[1])
    elif served:
        assert query_vector is not None
        ranked, dense, lexical = served_hybrid_search(r, text, query_vector, n, n, flt)
    else:
        ids = list(dict.fromkeys([*dense, *lexical]))
        in_dense = np.array([i in dense for i in ids], dtype=bool)
        in_lexical = np.array([i in lexical for i in ids], dtype=bool)
        fill_dense(r, dense, ids, query_vector)
        missing = [i for i in ids if i not in lexical]
        if missing and r.lexical is not None:
            lexical.update(zip(missing, r.lexical.get_scores(text, missing).tolist()))
        ranked = fuse_scores(ids, np.array([dense[i] for i in ids]),
                             np.array([lexical[i] for i in ids]), r.hybrid,
                             in_dense=in_dense, in_lexical=in_lexical,
                             has_text=has_text(r, ids) if r.hybrid.textless else None)
    return ranked, dense, lexical


def has_text(r: Retriever, ids: list[str]) -> np.ndarray:
    """Whether each document has searchable text (unknown ids count as having it): read for
    these candidates only, not by scanning the whole store."""
    return np.array([s is None or s.has_text for s in r.store.summaries(ids)], dtype=bool)


def ids_with(r: Retriever, modality: Modality) -> set[str]:
    """Ids of the documents with an image (``"image"``) or with text parts (``"text"``); read
    from the store once and kept until the next add or delete."""
    if r._modalities is None:
        kinds: dict[str, set[str]] = {"text": set(), "image": set()}
        for batch in r.store.iter_documents(2000):
            for doc in batch:
                parts = doc.payload.get("parts") or []
                if any("image" in p for p in parts):
                    kinds["image"].add(doc.id)
                if any("text" in p for p in parts):
                    kinds["text"].add(doc.id)
        r._modalities = kinds
    return r._modalities[modality]


def dense_one(r: Retriever, vector: np.ndarray, n: int, flt: Filter | None,
              allowed: set[str] | None = None) -> dict[str, float]:
    return dense_many(r, vector[None, :], n, flt, allowed)[0]


def dense_many(r: Retriever, vectors: np.ndarray, n: int, flt: Filter | None,
               allowed: set[str] | None = None) -> list[dict[str, float]]:
    """The ``n`` best documents for each query vector, by their best chunk's score.

    One index search serves every vector. A document with many chunks may fill a query's
    hits alone: that query alone is searched again, twice as wide each time, until ``n``
    documents are among its hits or the index has no more matching vectors.
    """
    total = r.index.count()
    fetch = min(n * 4 if total > r.store.count() else n, max(total, 1))
    out = []
    for vector, hits in zip(vectors, r.index.search(vectors, fetch, flt)):
        width, best = fetch, best_chunks(hits, allowed)
        while len(best) < n and len(hits) >= width and width < total:
            width = min(width * 2, total)
            hits = r.index.search(vector[None, :], width, flt)[0]
            best = best_chunks(hits, allowed)
        out.append(dict(sorted(best.items(), key=lambda kv: -kv[1])[:n]))
    return out


def fill_dense(r: Retriever, dense: dict[str, float], ids: list[str],
               vector: np.ndarray | None) -> None:
    missing = [i for i in ids if i not in dense]
    if not missing or vector is None:
        return
    counts = [s.n_vectors if s is not None else 1 for s in r.store.summaries(missing)]
    # one vector-index read for every missing document's chunks, not one per document
    scores = r.index.get_vectors([v for doc_id, n in zip(missing, counts)
                                  for v in vector_ids(doc_id, n)]) @ vector
    start = 0
    for doc_id, n in zip(missing, counts):
        dense[doc_id] = float(np.max(scores[start:start + n]))
        start += n


def lexical_candidates(r: Retriever, flt: Filter | None,
                       allowed: set[str] | None) -> Iterable[str] | None:
    """The documents BM25 may return (``None``: all): the filter's matches (a scan of the
    store's metadata, done once per search call), within ``allowed``."""
    if flt is None:
        return allowed
    matching = r.store.ids_matching(flt)
    return matching if allowed is None else [i for i in matching if i in allowed]


def lexical_scores(r: Retriever, text: str, n: int,
                   candidates: Iterable[str] | None) -> dict[str, float]:
    assert r.lexical is not None
    hits = r.lexical.search([text], n, allowed_ids=candidates)[0]
    return {h.id: h.score for h in hits}


def best_chunks(hits: Sequence[Hit], allowed: set[str] | None) -> dict[str, float]:
    """Document id -> the score of its best chunk among ``hits`` (within ``allowed``)."""
    best: dict[str, float] = {}
    for hit in hits:
        doc = document_id(hit.id)
        if allowed is not None and doc not in allowed:
            continue
        if doc not in best or hit.score > best[doc]:
            best[doc] = hit.score
    return best
