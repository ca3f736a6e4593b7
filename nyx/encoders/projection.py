"""A learned linear map from image-tower features into the text space (trained by training/)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nyx.encoders.weights import read_weights


@dataclass
class ImageProjection:
    """``y = x @ weight.T + bias``; ``weight`` is ``(out_dim, in_dim)``. Stored as safetensors."""

    weight: np.ndarray
    bias: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weight = np.asarray(self.weight, dtype=np.float32)
        self.bias = np.asarray(self.bias, dtype=np.float32)
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise ValueError(
                f"projection weight must be (out, in) and bias (out,), got {self.weight.shape} "
                f"and {self.bias.shape}"
            )

    @property
    def in_dim(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_dim(self) -> int:
        return int(self.weight.shape[0])

    def __call__(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float32)
        if features.shape[-1] != self.in_dim:
            raise ValueError(f"projection expects {self.in_dim}-d features, got {features.shape}")
        return features @ self.weight.T + self.bias

    def save(self, path: str | Path) -> Path:
        from safetensors.numpy import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        save_file({"weight": self.weight, "bias": self.bias}, str(tmp),
                  metadata={"nyx": json.dumps(self.meta)})
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ImageProjection:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"image projection checkpoint not found: {path} (train one with nyx-train, or "
                "leave projection unset to use ConSE)"
            )
        tensors, meta = read_weights(path, ("weight", "bias"), "image projection")
        return cls(tensors["weight"], tensors["bias"], meta)

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.weight.tobytes())
        h.update(self.bias.tobytes())
        return h.hexdigest()[:12]
