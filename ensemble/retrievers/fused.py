"""Module-level ensembles of retrievers: several rankings fused into one, and reranking."""

from __future__ import annotations

from typing import Any, ClassVar

from nyx.ensemble.cache import DiskCache
from nyx.ensemble.config import register
from nyx.ensemble.retrievers.base import RetrieverModule
from nyx.ensemble.types import RetrievedDoc
from nyx.fusion import ENTROPY_CONFIDENCE, FUSION_METHODS, fuse

__all__ = ["FusedRetriever", "RerankedRetriever"]


@register("fused")
class FusedRetriever(RetrieverModule):
    """Fuses the top ``candidates`` of each retriever with RRF, CombSUM, CombMNZ or
    entropy-weighted fusion (:mod:`nyx.fusion`)."""

    config_fields: ClassVar[tuple[str, ...]] = ("method", "candidates", "rrf_k", "tau",
                                                 "weights")
    component_fields: ClassVar[tuple[str, ...]] = ("retrievers",)

    def __init__(self, retrievers: list[RetrieverModule], *, method: str = "rrf",
                 candidates: int = 20, rrf_k: float = 60.0, tau: float = 1.0,
                 weights: list[float] | None = None, cache: DiskCache | None = None) -> None:
        super().__init__(cache)
        if not retrievers:
            raise ValueError("FusedRetriever needs at least one retriever")
        if method not in FUSION_METHODS:
            raise ValueError(f"unknown fusion method {method!r}; use one of {FUSION_METHODS}")
        self.retrievers = list(retrievers)
        self.method = method
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.tau = tau
        self.weights = weights

    @property
    def cache_id(self) -> str:
        members = ",".join(r.cache_id for r in self.retrievers)
        method = f"entropy[{ENTROPY_CONFIDENCE}]" if self.method == "entropy" else self.method
        return f"fused:{method}:{self.candidates}:{self.rrf_k}:{self.tau}:{self.weights}:" \
               f"[{members}]"

    def _retrieve(self, query: str, k: int, filter: dict[str, Any] | None
                  ) -> list[RetrievedDoc]:
        n = max(k, self.candidates)
        lists = [r.retrieve(query, n, filter) for r in self.retrievers]
        by_id: dict[str, RetrievedDoc] = {}
        for docs in lists:
            for d in docs:
                by_id.setdefault(d.id, d)
        fused = fuse([[(d.id, d.score) for d in docs] for docs in lists], self.method,
                     rrf_k=self.rrf_k, tau=self.tau, weights=self.weights)
        return [RetrievedDoc(i, s, by_id[i].text, by_id[i].images,
                             {**by_id[i].metadata, "fusion": self.method})
                for i, s in fused[:k]]

    def fetch(self, doc_id: str) -> RetrievedDoc | None:
        return next((d for r in self.retrievers if (d := r.fetch(doc_id)) is not None), None)


@register("reranked")
class RerankedRetriever(RetrieverModule):
    """Retrieves ``candidates`` passages and reorders them with a reranker."""

    config_fields: ClassVar[tuple[str, ...]] = ("candidates",)
    component_fields: ClassVar[tuple[str, ...]] = ("retriever", "reranker")

    def __init__(self, retriever: RetrieverModule, reranker: Any, *, candidates: int = 20,
                 cache: DiskCache | None = None) -> None:
        super().__init__(cache)
        self.retriever = retriever
        self.reranker = reranker
        self.candidates = candidates

    @property
    def cache_id(self) -> str:
        return f"reranked:{self.reranker.cache_id}:{self.candidates}:{self.retriever.cache_id}"

    def _retrieve(self, query: str, k: int, filter: dict[str, Any] | None
                  ) -> list[RetrievedDoc]:
        docs = self.retriever.retrieve(query, max(k, self.candidates), filter)
        return self.reranker.rerank(query, docs)[:k]

    def fetch(self, doc_id: str) -> RetrievedDoc | None:
        return self.retriever.fetch(doc_id)
