"""Layer-dropped students of the shipped cross-encoder, built as int8 ONNX on first use.

A student keeps some of the teacher's 12 layers (ms-marco-MiniLM-L-12-v2, the pinned int8
``model.onnx`` of :mod:`nyx.rerank`, dequantised by :mod:`nyx.rerank_weights`) and adds a small
trained delta committed with Nyx (``nyx/data/rerank/<name>.safetensors``, sha256-pinned here):

* ``add.<weight>``: added to that weight (biases, LayerNorms, the classifier: BitFit);
* ``lora_a.<linear>`` [r, in] and ``lora_b.<linear>`` [out, r]: ``weight += lora_b @ lora_a``
  (LoRA, merged before the graph is written).

The delta is trained by ``python -m nyx.training.rerank_distill`` (the teacher's logits are its
only labels). The student's graph is written op by op (:mod:`nyx.encoders.bert_graph`), quantised
to int8 by onnxruntime's dynamic quantisation and cached atomically as
``$NYX_CACHE/onnx/rerank-<name>-<teacher sha>-<delta sha>-g<version>-int8.onnx``. Needs onnx and
numpy to build, onnxruntime to run; never torch.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["STUDENTS", "StudentSpec", "apply_delta", "ensure_student", "select_layers",
           "student_model_path", "student_weights"]

#: Bumped when the student graph written here changes (part of the cached file's name).
GRAPH_VERSION = 1
DELTA_DIR = Path(__file__).parent / "data" / "rerank"


@dataclass(frozen=True)
class StudentSpec:
    """A student: the teacher layers it keeps and its pinned delta file."""

    name: str
    layers: tuple[int, ...]
    delta_sha256: str

    @property
    def delta_path(self) -> Path:
        return DELTA_DIR / f"{self.name}.safetensors"


#: The students Nyx ships, by ``CrossEncoder(model=...)`` name.
STUDENTS: dict[str, StudentSpec] = {
    "student-l6": StudentSpec(
        "student-l6", (0, 2, 4, 6, 8, 10),
        "7c7c686ac62f1a5fd77510e5688f3db9f8ac52c36d2725bb64be6b2faf242b1e"),
}

_LAYER = re.compile(r"^bert\.encoder\.layer\.(\d+)\.(.+)$")


def select_layers(weights: Mapping[str, np.ndarray],
                  keep: Sequence[int]) -> dict[str, np.ndarray]:
    """The teacher's ``weights`` with only the layers in ``keep``, renumbered 0.. in that order
    (embeddings, pooler and classifier unchanged)."""
    position = {teacher: student for student, teacher in enumerate(keep)}
    out: dict[str, np.ndarray] = {}
    for name, value in weights.items():
        match = _LAYER.match(name)
        if match is None:
            out[name] = value
        elif int(match.group(1)) in position:
            out[f"bert.encoder.layer.{position[int(match.group(1))]}.{match.group(2)}"] = value
    return out


def apply_delta(weights: Mapping[str, np.ndarray],
                delta: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``weights`` with the trained ``delta`` (``add.*``, ``lora_a.*``/``lora_b.*``) merged in."""
    out = dict(weights)
    for key, value in delta.items():
        kind, _, name = key.partition(".")
        if kind == "add":
            target = name
            change = value.astype(np.float32)
        elif kind == "lora_b":
            target = f"{name}.weight"
            change = value.astype(np.float32) @ delta[f"lora_a.{name}"].astype(np.float32)
        elif kind == "lora_a":
            continue
        else:
            raise ValueError(f"unknown delta entry {key!r}")
        if target not in out or out[target].shape != change.shape:
            raise ValueError(f"delta entry {key!r} does not fit the student's weights")
        out[target] = (out[target] + change).astype(np.float32)
    return out


def student_weights(spec: StudentSpec, teacher_model: Path,
                    delta_path: Path | None = None) -> dict[str, np.ndarray]:
    """The student's fp32 weights: the pinned teacher's layers in ``spec.layers`` plus its delta
    (checked against ``spec.delta_sha256``)."""
    from safetensors.numpy import load_file

    from nyx.encoders.towers import verify_file
    from nyx.rerank_weights import dequantized_weights

    path = delta_path or spec.delta_path
    verify_file(path, spec.delta_sha256, "--force-reinstall nyx (the file ships with it)")
    return apply_delta(select_layers(dequantized_weights(teacher_model), spec.layers),
                       load_file(str(path)))


def student_model_path(spec: StudentSpec) -> Path:
    """Where the int8 ONNX file of ``spec`` is cached."""
    from nyx.encoders.conse import cache_dir
    from nyx.rerank import MODEL_SHA256

    return cache_dir() / "onnx" / (f"rerank-{spec.name}-{MODEL_SHA256['model.onnx'][:12]}-"
                                   f"{spec.delta_sha256[:12]}-g{GRAPH_VERSION}-int8.onnx")


def ensure_student(spec: StudentSpec, teacher_model: Path) -> Path:
    """The cached int8 ONNX file of the student ``spec``, built on first use from the pinned
    teacher file ``teacher_model`` and the student's delta."""
    path = student_model_path(spec)
    if path.exists():
        return path
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from nyx.encoders.bert_graph import bert_graph
    from nyx.indexes.atomic import atomic_write_bytes
    from nyx.rerank_weights import weights_shape

    weights = student_weights(spec, teacher_model)
    graph = bert_graph(weights, weights_shape(weights), head="classifier", prefix="bert.",
                       name=f"nyx-rerank-{spec.name}")
    logger.info("writing the %s cross-encoder to %s (once)", spec.name, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        fp32.write_bytes(graph.SerializeToString())
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        atomic_write_bytes(path, int8.read_bytes())
    return path
