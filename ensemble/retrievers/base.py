"""The retriever-module interface: queries in, ranked :class:`~nyx.results.SearchResult` hits
out, with the search options of :meth:`nyx.Retriever.search`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, TypeAlias, overload

from nyx.content import Item
from nyx.ensemble.cache import DiskCache, cache_key
from nyx.ensemble.config import Configurable
from nyx.ensemble.errors import UnsupportedSearchError
from nyx.results import SearchResult
from nyx.search_options import SearchOptions

__all__ = ["Query", "RetrieverModule"]

#: text, or (for modules that :attr:`~RetrieverModule.searches_natively`) an interleaved item
Query: TypeAlias = "str | Item"
#: a module that filters by modality looks this many times deeper for hits of that modality
MODALITY_DEPTH = 5
_DEFAULTS = SearchOptions()


class RetrieverModule(Configurable, ABC):
    """Ranks passages for text queries. Results are cached on disk when ``cache`` is set.

    A module implements :meth:`_retrieve` (one text query), or :meth:`_retrieve_batch` where it
    can rank several queries at once.
    """

    supports_concurrency: ClassVar[bool] = True
    #: ``True``: the module searches with every :class:`~nyx.SearchOptions` itself and takes
    #: image queries (:class:`~nyx.Item`), as a Nyx ``Retriever`` does. ``False``: it ranks text;
    #: :meth:`retrieve` applies ``modality`` and ``min_score`` (to the module's own score) to
    #: its rankings, ignores ``group`` (its passages are not files) and refuses other modes
    #: and reranking.
    searches_natively: ClassVar[bool] = False

    def __init__(self, cache: DiskCache | None = None) -> None:
        self.cache = cache

    @overload
    def retrieve(self, query: Query, k: int = ..., filter: dict[str, Any] | None = ...,
                 options: SearchOptions | None = ...) -> list[SearchResult]: ...

    @overload
    def retrieve(self, query: list[Query], k: int = ..., filter: dict[str, Any] | None = ...,
                 options: SearchOptions | None = ...) -> list[list[SearchResult]]: ...

    def retrieve(self, query: Query | list[Query], k: int = 5,
                 filter: dict[str, Any] | None = None, options: SearchOptions | None = None
                 ) -> list[SearchResult] | list[list[SearchResult]]:
        """The top-``k`` passages for ``query``, best first; for a list of queries, one such
        list each (ranked together where the module can batch)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        queries = list(query) if isinstance(query, list) else [query]
        opts = options or _DEFAULTS
        for q in queries:
            self._check_query(q)
        if not self.searches_natively:
            self._check_options(opts)
        found: list[list[SearchResult] | None] = [None] * len(queries)
        keys = [self._cache_key(q, k, filter, opts) for q in queries]
        if self.cache is not None:
            for n, key in enumerate(keys):
                cached = self.cache.get(key) if key is not None else None
                if cached is not None:
                    found[n] = [SearchResult.from_dict(d) for d in cached]
        missing = [n for n, hits in enumerate(found) if hits is None]
        if missing:
            fresh = self._search([queries[n] for n in missing], k, filter, opts)
            for n, hits in zip(missing, fresh):
                found[n] = hits
                if self.cache is not None and keys[n] is not None:
                    self.cache.put(keys[n], [h.to_dict() for h in hits])
        results = [hits or [] for hits in found]
        return results if isinstance(query, list) else results[0]

    def _check_query(self, query: Any) -> None:
        if isinstance(query, Item) and self.searches_natively:
            if not query.parts:
                raise ValueError("the query must have text or an image")
            return
        if isinstance(query, (Item, bytes, Path)):
            raise UnsupportedSearchError(f"{type(self).__name__} searches text only; image "
                                         "queries need a Nyx retriever")
        if not isinstance(query, str) or not query.strip():
            raise ValueError("the query must be a non-empty string")

    def _check_options(self, options: SearchOptions) -> None:
        name = type(self).__name__
        if options.mode != "auto":
            raise UnsupportedSearchError(f"{name} has one search mode; leave mode 'auto' "
                                         f"(got {options.mode!r})")
        if options.rerank is not None and options.rerank is not False:
            raise UnsupportedSearchError(f"{name} cannot rerank; leave rerank out (reranking "
                                         "needs a Nyx retriever)")

    def _cache_key(self, query: Query, k: int, filter: dict[str, Any] | None,
                   options: SearchOptions) -> str | None:
        """``None`` (not cached) for an item query; default options keep the keys that
        results were cached under before searches took options."""
        if not isinstance(query, str):
            return None
        extra = [] if options == _DEFAULTS else [options.to_dict()]
        return cache_key("retrieve", self.cache_id, query, k, filter, *extra)

    def _search(self, queries: list[Query], k: int, filter: dict[str, Any] | None,
                options: SearchOptions) -> list[list[SearchResult]]:
        """Search without the cache: natively, or the module's text rankings narrowed to
        ``modality`` and ``min_score``."""
        if self.searches_natively:
            return self._retrieve_batch(queries, k, filter, options)
        depth = k if options.modality == "any" else k * MODALITY_DEPTH
        ranked = self._retrieve_batch(queries, depth, filter, options)
        return [[h for h in hits if _has_modality(h, options.modality) and
                 (options.min_score is None or h.score >= options.min_score)][:k]
                for hits in ranked]

    def _retrieve_batch(self, queries: list[Query], k: int, filter: dict[str, Any] | None,
                        options: SearchOptions) -> list[list[SearchResult]]:
        """Retrieve without the cache, for several queries; ``options`` matter to modules that
        search natively. Modules that can rank a batch at once override this."""
        return [self._retrieve(str(q), k, filter) for q in queries]

    @abstractmethod
    def _retrieve(self, query: str, k: int, filter: dict[str, Any] | None
                  ) -> list[SearchResult]:
        """Retrieve one text query without the cache."""

    def fetch(self, doc_id: str) -> SearchResult | None:
        """One passage by id (score 0), or None (modules that can't look up by id return
        None)."""
        return None

    def media_file(self, ref: str) -> Path | None:
        """The stored file behind an image reference of a hit (``SearchResult.images``), for
        serving; None where the module keeps no image files (or the reference is not one)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cache_id!r})"


def _has_modality(hit: SearchResult, modality: str) -> bool:
    if modality == "image":
        return bool(hit.images)
    if modality == "text":
        return bool(hit.text.strip())
    return True
