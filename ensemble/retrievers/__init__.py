"""Retriever modules: Nyx's Retriever, BM25 alone, fused and reranked retrievers."""

from __future__ import annotations

from ensemble.retrievers.base import RetrieverModule
from ensemble.retrievers.bm25 import BM25Retriever
from ensemble.retrievers.fused import FusedRetriever, RerankedRetriever
from ensemble.retrievers.nyx_retriever import NyxRetriever

__all__ = ["BM25Retriever", "FusedRetriever", "NyxRetriever", "RerankedRetriever",
           "RetrieverModule"]
