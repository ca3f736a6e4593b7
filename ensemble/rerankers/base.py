"""The reranker interface: reorder retrieved passages for a query."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from nyx.ensemble.config import Configurable
from nyx.results import SearchResult

__all__ = ["Reranker"]


class Reranker(Configurable, ABC):
    """Returns the passages reordered (best first), each with its reranker score."""

    @abstractmethod
    def rerank(self, query: str, docs: Sequence[SearchResult]) -> list[SearchResult]:
        """``docs`` reordered for ``query``; ``first_stage_score`` keeps the old score."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cache_id!r})"
