"""The retriever-module interface: a query in, ranked :class:`RetrievedDoc` records out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from nyx.ensemble.cache import DiskCache, cache_key
from nyx.ensemble.config import Configurable
from nyx.ensemble.types import RetrievedDoc

__all__ = ["RetrieverModule"]


class RetrieverModule(Configurable, ABC):
    """Ranks passages for a text query. Results are cached on disk when ``cache`` is set."""

    supports_concurrency: ClassVar[bool] = True

    def __init__(self, cache: DiskCache | None = None) -> None:
        self.cache = cache

    def retrieve(self, query: str, k: int = 5, filter: dict[str, Any] | None = None
                 ) -> list[RetrievedDoc]:
        """The top-``k`` passages for ``query``, best first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if not isinstance(query, str) or not query.strip():
            raise ValueError("the query must be a non-empty string")
        key = cache_key("retrieve", self.cache_id, query, k, filter)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return [RetrievedDoc.from_dict(d) for d in hit]
        docs = self._retrieve(query, k, filter)
        if self.cache is not None:
            self.cache.put(key, [d.to_dict() for d in docs])
        return docs

    def retrieve_many(self, queries: list[str], k: int = 5) -> list[list[RetrievedDoc]]:
        return [self.retrieve(q, k) for q in queries]

    @abstractmethod
    def _retrieve(self, query: str, k: int, filter: dict[str, Any] | None
                  ) -> list[RetrievedDoc]:
        """Retrieve without the cache."""

    def fetch(self, doc_id: str) -> RetrievedDoc | None:
        """One passage by id, or None (modules that can't look up by id return None)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cache_id!r})"
