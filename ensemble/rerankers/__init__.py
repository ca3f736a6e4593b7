"""Rerankers: an ONNX cross-encoder and a list-wise LLM reranker."""

from __future__ import annotations

from nyx.ensemble.rerankers.base import Reranker
from nyx.ensemble.rerankers.cross_encoder import CrossEncoderReranker
from nyx.ensemble.rerankers.llm_listwise import LLMListwiseReranker, clean_ranking, parse_ranking

__all__ = ["CrossEncoderReranker", "LLMListwiseReranker", "Reranker", "clean_ranking",
           "parse_ranking"]
