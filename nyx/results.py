"""Search results: one hit per document or chunk, grouped, de-duplicated and reranked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nyx.content import Item
from nyx.fusion import minmax
from nyx.indexes import DocSummary, Document
from nyx.rerank import CrossEncoder
from nyx.search_options import Group

__all__ = ["SearchResult", "attach", "blend_scores", "collapse", "rerank_results"]

@dataclass
class SearchResult:
    """One hit: the document id, its score, and the document itself."""

    id: str
    score: float
    document: Item | None
    metadata: dict[str, Any] = field(default_factory=dict)
    dense_score: float | None = None
    lexical_score: float | None = None
    #: the document's searchable text: its own text plus text read from its images (OCR)
    text: str = ""
    #: with a reranker: the first-stage (fused) score; ``score`` is then the blend of it and
    #: the cross-encoder's (:func:`blend_scores`)
    first_stage_score: float | None = None
    #: with a reranker: the cross-encoder's logit (predicted for a hit without text)
    rerank_score: float | None = None
    #: the file the hit came from (``nyx-index build`` indexes), else ``None``
    source: str | None = None
    #: which chunk of ``source`` matched best (``id`` is that chunk's id), else ``None``
    chunk: int | None = None
    #: how many chunks of ``source`` were among the candidates (grouped into this hit)
    matched_chunks: int = 1
    #: ids (or files) with exactly the same content, collapsed into this hit
    duplicates: list[str] = field(default_factory=list)
    #: an absolute estimate that the hit answers a text query, in [0, 1], comparable across
    #: queries (see :mod:`nyx.relevance`); ``None`` where no calibration applies (image
    #: queries, encoders other than nyx-lite in dense or hybrid mode)
    relevance: float | None = None

    @property
    def threshold_score(self) -> float:
        """What ``min_score`` compares: :attr:`relevance` where known, else :attr:`score`."""
        return self.relevance if self.relevance is not None else self.score


def collapse(ranked: list[tuple[str, float]], summaries: list[DocSummary | None],
             group: Group) -> list[SearchResult]:
    """Hits from ranked ``(id, score)`` pairs and each document's summary (``None``: not
    stored). With ``group="document"`` the chunks of one file are one hit and files whose best
    passage has exactly the same content collapse into the first; ``"chunk"`` keeps every
    stored item. The hits carry no document, text or metadata yet (see :func:`attach`)."""
    hits: list[SearchResult] = []
    by_key: dict[str, SearchResult | None] = {}  # None: collapsed into another hit
    by_content: dict[str, SearchResult] = {}
    for (doc_id, score), summary in zip(ranked, summaries):
        source = summary.source if summary is not None else None
        chunk = summary.chunk if summary is not None else None
        key = source if group == "document" and source and chunk is not None else doc_id
        if key in by_key:
            seen = by_key[key]
            if seen is not None:
                seen.matched_chunks += 1
            continue
        # Only what was read from files (nyx-index build sets ``source``) folds together:
        # documents added through the API stay apart, however alike.
        content = summary.content_hash if summary is not None and group == "document" and \
            source is not None else ""
        original = by_content.get(content) if content else None
        if original is not None:
            # the same content (a copied file, a repeated boilerplate chunk): one hit
            by_key[key] = None
            original.duplicates.append(key)
            continue
        hit = SearchResult(doc_id, score, None, source=source, chunk=chunk)
        by_key[key] = hit
        if content:
            by_content[content] = hit
        hits.append(hit)
    return hits


def attach(hits: list[SearchResult], docs: list[Document | None]) -> None:
    """Give each hit its stored document's metadata and searchable text."""
    for hit, doc in zip(hits, docs):
        if doc is not None:
            hit.metadata = dict(doc.metadata)
            hit.text = str(doc.payload.get("text", ""))


def blend_scores(first: np.ndarray, cross: np.ndarray, weight: float) -> np.ndarray:
    """The reranked score: ``weight * minmax(cross) + (1 - weight) * minmax(first)`` over one
    query's reranked hits. ``weight`` 1 is the cross-encoder's order alone; below 1 the first
    stage keeps a say, so a cross-encoder that misjudges a collection cannot overturn a
    confident first-stage ranking on its own."""
    if weight >= 1.0:
        return np.asarray(cross, dtype=np.float64)
    return weight * minmax(cross) + (1.0 - weight) * minmax(first)


def rerank_results(reranker: CrossEncoder, query: str, results: list[SearchResult],
                   blend: float = 1.0) -> list[SearchResult]:
    """One list in descending score order, scored by the cross-encoder blended with the first
    stage (:func:`blend_scores` with weight ``blend``).

    Hits with text get the cross-encoder's score. A hit without text (an image nothing was
    read from) cannot be scored by it, so it gets the score the cross-encoder gives the text
    hits of this query at its first-stage score: a least-squares line through their (first
    stage, cross-encoder) pairs, never falling as the first-stage score rises. It thus keeps its
    place among them as far as the first stage can tell, on the cross-encoder's scale, and the
    list stays sorted (``first_stage_score`` keeps the fused score of every hit and
    ``rerank_score`` the cross-encoder's)."""
    slots = [n for n, r in enumerate(results) if r.text.strip()]
    if not slots:
        return results
    scores = np.asarray(reranker.score(query, [results[n].text for n in slots]), np.float64)
    first = np.array([results[n].score for n in slots], dtype=np.float64)
    slope = 0.0
    if len(slots) > 1 and np.ptp(first) > 0:
        slope = max(0.0, float(np.cov(first, scores, bias=True)[0, 1] / np.var(first)))
    intercept = float(scores.mean() - slope * first.mean())
    cross = np.array([intercept + slope * r.score for r in results])
    cross[slots] = scores
    stage = np.array([r.score for r in results], dtype=np.float64)
    final = blend_scores(stage, cross, blend)
    for r, c, f in zip(results, cross.tolist(), final.tolist()):
        r.first_stage_score, r.rerank_score, r.score = r.score, float(c), float(f)
    order = sorted(range(len(results)),
                   key=lambda n: (-results[n].score, -(results[n].first_stage_score or 0.0), n))
    return [results[n] for n in order]
