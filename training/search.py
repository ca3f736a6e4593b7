"""Ranked retrieval for the data stages (hard-negative mining, feedback), behind a protocol.

The stages need only "queries in, ranked document ids out". :class:`RetrieverSearcher` adapts
``nyx.Retriever``; any callable with the :class:`Searcher` signature works (tests, other
systems), so the stages do not depend on the retriever's details.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from nyx.content import Item
from nyx.results import SearchResult

logger = logging.getLogger(__name__)


class Searcher(Protocol):
    """Top-``k`` hits per query, best first."""

    def __call__(self, queries: Sequence[str], k: int) -> list[list[SearchResult]]: ...


class RetrieverSearcher:
    """A :class:`Searcher` over a ``nyx.Retriever`` (results with ``.id``, ``.score``)."""

    def __init__(self, retriever: Any, mode: str = "dense") -> None:
        self.retriever = retriever
        self.mode = mode

    @classmethod
    def build(cls, items: Sequence[Item], encoder: str = "nyx-lite",
              encoder_options: dict[str, Any] | None = None, mode: str = "dense",
              show_progress: bool = True) -> RetrieverSearcher:
        """Index ``items`` (which need ids) in a fresh in-memory retriever."""
        from nyx import load_encoder
        from nyx.retriever import Retriever

        missing = [i for i, item in enumerate(items) if item.id is None]
        if missing:
            raise ValueError(f"{len(missing)} documents have no id (first: #{missing[0]}); "
                             "give every corpus document an id")
        retriever = Retriever(load_encoder(encoder, **(encoder_options or {})),
                              lexical=mode != "dense")
        retriever.add(list(items), show_progress=show_progress)
        logger.info("indexed %d documents with %s", len(items), encoder)
        return cls(retriever, mode)

    def __call__(self, queries: Sequence[str], k: int) -> list[list[SearchResult]]:
        if not queries:
            return []
        k = min(k, max(1, self.retriever.count()))
        # every stored passage is a candidate: mining wants chunks, not files
        return self.retriever.search(list(queries), k=k, mode=self.mode, group="chunk")


def ranks_window(hits: Sequence[SearchResult], first: int, last: int,
                 exclude: Sequence[str] = ()) -> list[SearchResult]:
    """Hits ranked ``first``..``last`` (1-based, inclusive), without the ``exclude`` ids.

    The default NyxQA window 10-20 skips the top ranks, where unlabelled positives hide, and
    keeps documents similar enough to be hard.
    """
    if first < 1 or last < first:
        raise ValueError(f"rank window must satisfy 1 <= first <= last, got [{first}, {last}]")
    skip = set(exclude)
    return [h for h in hits[first - 1:last] if h.id not in skip]
