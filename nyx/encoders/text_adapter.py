"""A low-rank adapter of nyx-lite's text tower: what ``nyx-index adapt`` learns for one corpus.

The file is a safetensors (read without pickle) holding, for each adapted linear layer of
all-MiniLM-L6-v2, two matrices ``{weight}.lora_a`` [r, in] and ``{weight}.lora_b`` [out, r];
the adapted weight is ``W + scale * B @ A`` (LoRA, Hu et al. 2021), merged into the weights
before the ONNX graph is written, so an adapted tower runs exactly as fast as the plain one.
Its name is the first 16 hex digits of its sha256: a changed file no longer matches its name
and is refused, and the encoder's version string carries the same digits, so an index never
mixes vectors of two adapters.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nyx.encoders.weights import read_weights

__all__ = ["ADAPTED_LINEARS", "ADAPTER_FOLDER", "TextAdapter", "adapter_name", "adapter_relpath",
           "write_adapter"]

#: Where a generation of an index keeps its text adapter (relative to the generation).
ADAPTER_FOLDER = "text-adapter"
_NAME = re.compile(r"[0-9a-f]{16}\.safetensors")

#: The linear layers of each BERT layer that an adapter may change (``transformers`` names).
ADAPTED_LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value",
                   "attention.output.dense", "intermediate.dense", "output.dense")


def adapter_name(data: bytes) -> str:
    """The file name an adapter with these bytes is stored under."""
    return f"{hashlib.sha256(data).hexdigest()[:16]}.safetensors"


def adapter_relpath(text: str) -> Path:
    """``text`` checked to be an adapter's place in an index generation,
    ``text-adapter/<16 hex>.safetensors`` (an index folder never points elsewhere)."""
    path = Path(text)
    if len(path.parts) != 2 or path.parts[0] != ADAPTER_FOLDER or not _NAME.fullmatch(path.name):
        raise ValueError(f"text adapter {text!r} is not of the form {ADAPTER_FOLDER}/"
                         "<16 hex digits>.safetensors; the index settings are damaged - undo "
                         "the adaptation or rebuild the index")
    return path


@dataclass(frozen=True)
class TextAdapter:
    """A checked adapter file: its low-rank factors, scale and checksum."""

    path: Path
    sha256: str
    factors: dict[str, tuple[np.ndarray, np.ndarray]]
    scale: float
    #: what made it (``nyx-index adapt`` records its settings, steps and the fusion weight)
    info: dict[str, Any]

    @property
    def tag(self) -> str:
        """The 16 hex digits that name it (in its file name and the encoder version)."""
        return self.sha256[:16]

    @classmethod
    def load(cls, path: str | Path) -> TextAdapter:
        """Read and check ``path``: its name must be its own checksum (see :func:`adapter_name`)."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FileNotFoundError(f"text adapter {path} cannot be read ({exc}); undo the "
                                    "adaptation with `nyx-index adapt IDX --undo` or restore "
                                    "the file") from None
        digest = hashlib.sha256(data).hexdigest()
        if path.name != adapter_name(data):
            raise ValueError(f"text adapter {path} does not match its name (sha256 {digest[:16]}"
                             "...): the file was changed or replaced; restore it, or undo the "
                             "adaptation with `nyx-index adapt IDX --undo`")
        tensors, meta = read_weights(path, (), "text adapter")
        factors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for key in tensors:
            if key.endswith(".lora_a"):
                weight = key[: -len(".lora_a")]
                if f"{weight}.lora_b" not in tensors:
                    raise ValueError(f"text adapter {path} has {key} without its lora_b")
                factors[weight] = (tensors[key].astype(np.float32),
                                   tensors[f"{weight}.lora_b"].astype(np.float32))
        if not factors or "scale" not in meta:
            raise ValueError(f"text adapter {path} holds no low-rank factors or no scale")
        return cls(path, digest, factors, float(meta["scale"]), dict(meta))

    def merge(self, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``weights`` with every adapted matrix replaced by ``W + scale * B @ A``."""
        out = dict(weights)
        for name, (a, b) in self.factors.items():
            if name not in out:
                raise ValueError(f"text adapter {self.path} adapts {name}, which the text "
                                 "tower does not have")
            w = out[name]
            if b.shape[0] != w.shape[0] or a.shape[1] != w.shape[1]:
                raise ValueError(f"text adapter {self.path}: {name} factors {b.shape}x{a.shape} "
                                 f"do not fit the weight {w.shape}")
            out[name] = (w.astype(np.float32) + self.scale * (b @ a)).astype(np.float32)
        return out


def write_adapter(folder: Path, factors: dict[str, tuple[np.ndarray, np.ndarray]],
                  scale: float, info: dict[str, object]) -> Path:
    """Save ``factors`` (weight name -> (A, B)) into ``folder`` under their checksum name;
    returns the path (atomic; an existing identical file is kept)."""
    from safetensors.numpy import save

    from nyx.indexes.atomic import atomic_write_bytes

    tensors = {}
    for name, (a, b) in sorted(factors.items()):
        tensors[f"{name}.lora_a"] = np.ascontiguousarray(a, dtype=np.float32)
        tensors[f"{name}.lora_b"] = np.ascontiguousarray(b, dtype=np.float32)
    data = save(tensors, metadata={"nyx": json.dumps({"scale": scale, **info},
                                                     sort_keys=True)})
    path = folder / adapter_name(data)
    folder.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        atomic_write_bytes(path, data)
    return path
