"""A BERT encoder written op by op as an ONNX graph, from numpy weights (no torch, no exporter).

Shared by nyx-lite's text tower (:mod:`nyx.encoders.minilm_onnx`: mean pooling, one token type)
and the cross-encoders of :mod:`nyx.rerank` (token types, pooler, one-logit classifier). Weights
are named as in ``transformers`` (``{prefix}encoder.layer.{i}.attention.self.query.weight``,
``[out, in]``); the graph computes what ``BertModel`` computes in fp32 (exact GELU, post-norm
layers, additive float32-min attention bias on padding).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["HEADS", "OPSET", "BertShape", "bert_graph"]

OPSET = 20
#: What the graph returns: ``"mean"``: ``pooled`` [n, d], the mask-weighted mean of the last
#: hidden states (sentence-transformers); ``"classifier"``: ``logits`` [n, labels] of the pooler
#: (tanh of the first token's projection) and the classifier (a cross-encoder).
HEADS = ("mean", "classifier")


@dataclass(frozen=True)
class BertShape:
    """The sizes of a BERT (defaults: MiniLM-L12-H384, the ms-marco cross-encoder)."""

    layers: int = 12
    hidden: int = 384
    heads: int = 12
    intermediate: int = 1536
    vocab: int = 30522
    positions: int = 512
    type_vocab: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BertShape:
        """The shape in a ``transformers`` ``config.json``."""
        return cls(layers=int(config["num_hidden_layers"]), hidden=int(config["hidden_size"]),
                   heads=int(config["num_attention_heads"]),
                   intermediate=int(config["intermediate_size"]),
                   vocab=int(config["vocab_size"]),
                   positions=int(config["max_position_embeddings"]),
                   type_vocab=int(config.get("type_vocab_size", 2)),
                   layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)))

    def config(self, labels: int = 1) -> dict[str, Any]:
        """A ``transformers`` ``BertConfig`` dict of this shape (for the torch twin)."""
        return {"model_type": "bert", "architectures": ["BertForSequenceClassification"],
                "num_hidden_layers": self.layers, "hidden_size": self.hidden,
                "num_attention_heads": self.heads, "intermediate_size": self.intermediate,
                "vocab_size": self.vocab, "max_position_embeddings": self.positions,
                "type_vocab_size": self.type_vocab, "layer_norm_eps": self.layer_norm_eps,
                "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
                "attention_probs_dropout_prob": 0.0, "num_labels": labels,
                "pad_token_id": 0}


def bert_graph(weights: Mapping[str, np.ndarray], shape: BertShape, *,
               head: Literal["mean", "classifier"], prefix: str = "",
               name: str = "nyx-bert") -> Any:
    """The ONNX model (an ``onnx.ModelProto``) of the BERT in ``weights``.

    ``head="mean"``: inputs ``input_ids`` [n, L] int64 and ``attention_mask`` [n, L] float32,
    token type 0 throughout, output ``pooled`` [n, d]. ``head="classifier"``: inputs
    ``input_ids``, ``attention_mask`` and ``token_type_ids`` [n, L] int64 (as a Hugging Face
    export), output ``logits`` [n, labels]. ``prefix`` is the encoder's name prefix in
    ``weights`` (``"bert."`` in a ``BertForSequenceClassification``; the classifier is
    ``classifier.*`` at the top level).
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:  # pragma: no cover - onnx is a core dependency
        raise ImportError("writing a BERT ONNX graph needs the 'onnx' package: "
                          "pip install onnx") from e
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    dim, heads, eps = shape.hidden, shape.heads, shape.layer_norm_eps
    size = dim // heads
    w = weights
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        # (np.ascontiguousarray would turn a 0-d array into [1])
        inits.append(numpy_helper.from_array(np.array(value, order="C"), name))
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

    p = prefix
    # embeddings: word + position (rows 0..L-1) + token type
    nodes.append(helper.make_node("Shape", ["input_ids"], ["ids_shape"], name="ids_shape"))
    zero, one, two = (const(name, np.array([value], dtype=np.int64))
                      for name, value in (("zero", 0), ("one", 1), ("two", 2)))
    length = node("Slice", ["ids_shape", one, two], "length")
    pos = node("Slice", [const("pos_emb", w[f"{p}embeddings.position_embeddings.weight"]), zero,
                         length, zero], "pos")
    words = node("Gather", [const("word_emb", w[f"{p}embeddings.word_embeddings.weight"]),
                            "input_ids"], "words")
    types = w[f"{p}embeddings.token_type_embeddings.weight"]
    if head == "mean":
        type_emb = const("type0", types[0])
        mask = "attention_mask"
    else:
        type_emb = node("Gather", [const("type_emb", types), "token_type_ids"], "types")
        mask = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    summed = node("Add", [node("Add", [words, pos], "words_pos"), type_emb], "emb_sum")
    x = layer_norm(summed, f"{p}embeddings.LayerNorm", "emb")
    # additive attention bias [n, 1, 1, L]: 0 on tokens, float32 min on padding
    inverted = node("Sub", [const("f_one", np.array(1.0, dtype=np.float32)), mask], "mask_inv")
    bias = node("Mul", [inverted, const("f_min", np.array(np.finfo(np.float32).min,
                                                           dtype=np.float32))], "mask_bias2")
    bias = node("Unsqueeze", [bias, const("axes12", np.array([1, 2], dtype=np.int64))],
                "mask_bias")
    split_shape = const("split_shape", np.array([0, 0, heads, size], dtype=np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, dim], dtype=np.int64))
    scale = const("scale", np.array(1.0 / math.sqrt(size), dtype=np.float32))
    for i in range(shape.layers):
        lp = f"{p}encoder.layer.{i}"
        q = node("Transpose", [node("Reshape", [linear(x, f"{lp}.attention.self.query",
                                                       f"{lp}.q"), split_shape], f"{lp}.q4")],
                 f"{lp}.qt", perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, f"{lp}.attention.self.key", f"{lp}.k"),
                                                split_shape], f"{lp}.k4")],
                 f"{lp}.kt", perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, f"{lp}.attention.self.value",
                                                       f"{lp}.v"), split_shape], f"{lp}.v4")],
                 f"{lp}.vt", perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k], f"{lp}.qk"), scale],
                                   f"{lp}.qk_scaled"), bias], f"{lp}.scores")
        probs = node("Softmax", [scores], f"{lp}.probs", axis=-1)
        context = node("Reshape", [node("Transpose", [node("MatMul", [probs, v], f"{lp}.ctx4")],
                                        f"{lp}.ctxt", perm=[0, 2, 1, 3]), merge_shape],
                       f"{lp}.ctx")
        attended = node("Add", [linear(context, f"{lp}.attention.output.dense", f"{lp}.ao"), x],
                        f"{lp}.ao_res")
        x = layer_norm(attended, f"{lp}.attention.output.LayerNorm", f"{lp}.attn_out")
        hidden = node("Gelu", [linear(x, f"{lp}.intermediate.dense", f"{lp}.inter")],
                      f"{lp}.gelu")
        out = node("Add", [linear(hidden, f"{lp}.output.dense", f"{lp}.out"), x],
                   f"{lp}.out_res")
        x = layer_norm(out, f"{lp}.output.LayerNorm", f"{lp}.hidden")
    if head == "mean":
        mask3 = node("Unsqueeze", ["attention_mask",
                                   const("axis2", np.array([2], dtype=np.int64))], "mask3")
        total = node("ReduceSum", [node("Mul", [x, mask3], "masked"), one], "total", keepdims=0)
        count = node("Clip", [node("ReduceSum", [mask3, one], "count_raw", keepdims=0),
                              const("tiny", np.array(1e-9, dtype=np.float32))], "count")
        node("Div", [total, count], "pooled")
        inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", "L"]),
                  helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["n", "L"])]
        outputs = [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["n", dim])]
    else:
        first = node("Gather", [x, const("first", np.array(0, dtype=np.int64))], "cls", axis=1)
        pooled = node("Tanh", [linear(first, f"{p}pooler.dense", "pooler")], "pooled")
        linear(pooled, "classifier", "logits")
        labels = int(w["classifier.bias"].shape[0])
        inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["n", "L"])
                  for n in ("input_ids", "attention_mask", "token_type_ids")]
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", labels])]
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nyx")
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model
