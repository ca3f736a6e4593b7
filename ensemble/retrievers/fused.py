"""Module-level ensembles of retrievers: several rankings fused into one, and reranking."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from nyx.ensemble.cache import DiskCache
from nyx.ensemble.retrievers.base import RetrieverModule
from nyx.fusion import ENTROPY_CONFIDENCE, FUSION_METHODS, fuse
from nyx.results import SearchResult

__all__ = ["FusedRetriever", "RerankedRetriever"]


class FusedRetriever(RetrieverModule):
    """Fuses the top ``candidates`` of each retriever with RRF, CombSUM, CombMNZ or
    entropy-weighted fusion (:mod:`nyx.fusion`)."""

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

    def data_identity(self) -> dict[str, Any]:
        # how entropy fusion measures confidence changed once: older cached runs differ
        return {"entropy_confidence": ENTROPY_CONFIDENCE} if self.method == "entropy" else {}

    def _retrieve(self, query: str, k: int, filter: dict[str, Any] | None
                  ) -> list[SearchResult]:
        n = max(k, self.candidates)
        lists = [r.retrieve(query, n, filter) for r in self.retrievers]
        by_id: dict[str, SearchResult] = {}
        for docs in lists:
            for d in docs:
                by_id.setdefault(d.id, d)
        fused = fuse([[(d.id, d.score) for d in docs] for docs in lists], self.method,
                     rrf_k=self.rrf_k, tau=self.tau, weights=self.weights)
        return [replace(by_id[i], score=s, metadata={**by_id[i].metadata, "fusion": self.method})
                for i, s in fused[:k]]

    def fetch(self, doc_id: str) -> SearchResult | None:
        return next((d for r in self.retrievers if (d := r.fetch(doc_id)) is not None), None)

    def media_file(self, ref: str) -> Path | None:
        return next((f for r in self.retrievers if (f := r.media_file(ref)) is not None), None)


class RerankedRetriever(RetrieverModule):
    """Retrieves ``candidates`` passages and reorders them with a reranker."""

    component_fields: ClassVar[tuple[str, ...]] = ("retriever", "reranker")

    def __init__(self, retriever: RetrieverModule, reranker: Any, *, candidates: int = 20,
                 cache: DiskCache | None = None) -> None:
        super().__init__(cache)
        self.retriever = retriever
        self.reranker = reranker
        self.candidates = candidates

    def _retrieve(self, query: str, k: int, filter: dict[str, Any] | None
                  ) -> list[SearchResult]:
        docs = self.retriever.retrieve(query, max(k, self.candidates), filter)
        return self.reranker.rerank(query, docs)[:k]

    def fetch(self, doc_id: str) -> SearchResult | None:
        return self.retriever.fetch(doc_id)

    def media_file(self, ref: str) -> Path | None:
        return self.retriever.media_file(ref)
