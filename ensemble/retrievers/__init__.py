"""Retriever modules: Nyx's Retriever, BM25 alone, fused and reranked retrievers."""

from __future__ import annotations

from nyx.ensemble.retrievers.base import RetrieverModule
from nyx.ensemble.retrievers.bm25 import BM25Retriever
from nyx.ensemble.retrievers.fused import FusedRetriever, RerankedRetriever
from nyx.ensemble.retrievers.nyx_retriever import NyxRetriever

__all__ = ["BM25Retriever", "FusedRetriever", "NyxRetriever", "RerankedRetriever",
           "RetrieverModule"]
