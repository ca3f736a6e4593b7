"""BM25 alone, over a :class:`~nyx.ensemble.passages.Corpus` (``indexes.LexicalIndex``)."""

from __future__ import annotations

from typing import Any, ClassVar

from nyx.ensemble.cache import DiskCache
from nyx.ensemble.config import ConfigBuilder
from nyx.ensemble.passages import Corpus
from nyx.ensemble.retrievers.base import RetrieverModule
from nyx.results import SearchResult

__all__ = ["BM25Retriever"]


class BM25Retriever(RetrieverModule):
    """Lexical retrieval with BM25 (``k1``, ``b``); the index is built on construction.

    A filter is an :class:`indexes.Filter` over the passage records' fields (``title``...).
    """

    component_fields: ClassVar[tuple[str, ...]] = ("corpus",)

    def __init__(self, corpus: Corpus | Any, *, k1: float = 1.5, b: float = 0.75,
                 cache: DiskCache | None = None) -> None:
        from nyx.indexes import BM25Config, LexicalIndex

        super().__init__(cache)
        self.corpus = Corpus.resolve(corpus)
        self.k1 = k1
        self.b = b
        self.index = LexicalIndex(BM25Config(k1=k1, b=b))
        self.index.add(self.corpus.ids(), [t or " " for t in self.corpus.texts()])

    @classmethod
    def from_config(cls, config: Any, builder: ConfigBuilder) -> BM25Retriever:
        config = dict(config)
        config["corpus"] = Corpus.resolve(config.get("corpus"), builder)
        return super().from_config(config, builder)  # type: ignore[return-value]

    def _retrieve(self, query: str, k: int, filter: dict[str, Any] | None
                  ) -> list[SearchResult]:
        from nyx.indexes import Filter

        flt = Filter.coerce(filter)  # the grammar of every Nyx filter: equality, any, ranges
        allowed = None
        if flt is not None:
            allowed = [i for i, rec in self.corpus.docs.items() if flt.matches(rec)]
        hits = self.index.search([query], k, allowed_ids=allowed)[0]
        return [self.corpus.doc(h.id, h.score) for h in hits]

    def fetch(self, doc_id: str) -> SearchResult | None:
        return self.corpus.doc(doc_id) if doc_id in self.corpus else None
