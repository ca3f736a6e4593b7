"""What a search does to one query's ranked hits: group a file's chunks and fold identical
files into one hit (:func:`collapse`), give each hit its stored document (:func:`attach`), and
rerank with a cross-encoder blended with the first stage (:func:`rerank_results`,
:func:`blend_scores`). The hit itself is :class:`nyx.results.SearchResult`."""

from __future__ import annotations

import numpy as np

from nyx.content import Item
from nyx.fusion import minmax
from nyx.indexes import DocSummary, Document
from nyx.rerank import CrossEncoder
from nyx.results import SearchResult, image_refs
from nyx.search_options import Group

__all__ = ["attach", "blend_scores", "collapse", "confident_window", "rerank_results"]


def collapse(ranked: list[tuple[str, float]], summaries: list[DocSummary | None],
             group: Group, limit: int | None = None) -> list[SearchResult]:
    """Hits from ranked ``(id, score)`` pairs and each document's summary (``None``: not
    stored). With ``group="document"`` the chunks of one file are one hit and files whose best
    passage has exactly the same content collapse into the first; ``"chunk"`` keeps every
    stored item. The hits carry no document, text or metadata yet (see :func:`attach`).

    ``limit`` returns only the first ``limit`` hits (a hit object is made for those alone),
    each with the same ``matched_chunks`` and ``duplicates`` as without a limit: every
    candidate is still looked at."""
    hits: list[SearchResult] = []
    # key -> its hit; None: collapsed into another hit, or a hit past the limit
    by_key: dict[str, SearchResult | None] = {}
    by_content: dict[str, SearchResult | None] = {}
    wanted = len(ranked) if limit is None else limit
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
        if content and content in by_content:
            # the same content (a copied file, a repeated boilerplate chunk): one hit
            by_key[key] = None
            original = by_content[content]
            if original is not None:
                original.duplicates.append(key)
            continue
        hit = SearchResult(doc_id, score, source=source, chunk=chunk) \
            if len(hits) < wanted else None
        by_key[key] = hit
        if content:
            by_content[content] = hit
        if hit is not None:
            hits.append(hit)
    return hits


def attach(hits: list[SearchResult], docs: list[Document | None],
           items: list[Item | None]) -> None:
    """Give each hit its stored document's record: metadata, searchable text, the document as
    an item (``items``, read from ``docs``) and its image references."""
    for hit, doc, item in zip(hits, docs, items):
        if doc is not None:
            hit.metadata = dict(doc.metadata)
            hit.text = str(doc.payload.get("text", ""))
        hit.document = item
        hit.images = image_refs(item) if item is not None else []


def blend_scores(first: np.ndarray, cross: np.ndarray, weight: float) -> np.ndarray:
    """The reranked score: ``weight * minmax(cross) + (1 - weight) * minmax(first)`` over one
    query's reranked hits. ``weight`` 1 is the cross-encoder's order alone; below 1 the first
    stage keeps a say, so a cross-encoder that misjudges a collection cannot overturn a
    confident first-stage ranking on its own."""
    if weight >= 1.0:
        return np.asarray(cross, dtype=np.float64)
    return weight * minmax(cross) + (1.0 - weight) * minmax(first)


def confident_window(first: list[float], margin: float | None, depth: int) -> int:
    """How many of one query's hits (``first``: their first-stage scores, best first) the
    cross-encoder re-scores: all of them, or only the top ``depth`` when the first stage is
    confident, i.e. its best hit leads the second by more than ``margin`` of the spread of the
    top ten scores (best minus tenth). ``margin`` None: always all."""
    n = len(first)
    if margin is None or n <= depth or n < 3:
        return n
    spread = first[0] - first[min(n, 10) - 1]
    if not spread > 0:
        return n
    return depth if (first[0] - first[1]) / spread > margin else n


def rerank_results(reranker: CrossEncoder, query: str, results: list[SearchResult],
                   blend: float = 1.0, window: int | None = None) -> list[SearchResult]:
    """One list in descending score order, scored by the cross-encoder blended with the first
    stage (:func:`blend_scores` with weight ``blend``).

    Only the first ``window`` hits (default: all) are re-scored and reordered among
    themselves; the hits after them keep the first stage's order below them (see
    :func:`confident_window`), with a score no higher than the window's lowest.

    Hits with text get the cross-encoder's score. A hit without text (an image nothing was
    read from) cannot be scored by it, so it gets the score the cross-encoder gives the text
    hits of this query at its first-stage score: a least-squares line through their (first
    stage, cross-encoder) pairs, never falling as the first-stage score rises. It thus keeps its
    place among them as far as the first stage can tell, on the cross-encoder's scale, and the
    list stays sorted (``first_stage_score`` keeps the fused score of every hit and
    ``rerank_score`` the cross-encoder's, the line's for a hit without text, None past the
    window)."""
    window = len(results) if window is None else max(0, min(window, len(results)))
    head, tail = results[:window], results[window:]
    slots = [n for n, r in enumerate(head) if r.text.strip()]
    if not slots:
        return results
    scores = np.asarray(reranker.score(query, [head[n].text for n in slots]), np.float64)
    first = np.array([head[n].score for n in slots], dtype=np.float64)
    slope = 0.0
    if len(slots) > 1 and np.ptp(first) > 0:
        slope = max(0.0, float(np.cov(first, scores, bias=True)[0, 1] / np.var(first)))
    intercept = float(scores.mean() - slope * first.mean())
    stage = np.array([r.score for r in results], dtype=np.float64)
    cross = intercept + slope * stage  # the line, for the hits the cross-encoder did not read
    cross[slots] = scores
    final = blend_scores(stage[:window], cross[:window], blend)
    if tail:
        # the tail on the window's scale, capped at the window's lowest: it stays below the
        # window in the first stage's order (the line never falls as that score falls)
        def scaled(values: np.ndarray, ref: np.ndarray) -> np.ndarray:
            return (values - ref.min()) / (np.ptp(ref) or 1.0)
        own = cross[window:] if blend >= 1.0 else (
            blend * scaled(cross[window:], cross[:window])
            + (1.0 - blend) * scaled(stage[window:], stage[:window]))
        final = np.concatenate([final, np.minimum(own, final.min())])
    for n, (r, c, f) in enumerate(zip(results, cross.tolist(), final.tolist())):
        r.first_stage_score, r.score = r.score, float(f)
        r.rerank_score = float(c) if n < window else None  # not read, not judged
    order = sorted(range(window),
                   key=lambda n: (-results[n].score, -(results[n].first_stage_score or 0.0), n))
    return [results[n] for n in order] + tail
