"""The trained image bridge: EfficientNet features and the ConSE vector -> the MiniLM text space.

``y = normalize(scale * conse + W2 gelu(W1 [standardize(features); conse] + b1) + b2)``

ConSE is both an input and a residual path, so photos keep what ImageNet taught the tower while
the MLP learns what class names cannot say (icons, drawings, colours, shapes). The text side is
untouched: existing text vectors stay valid. Trained by :mod:`nyx.training.bridge`; the release's
weights ship inside the package (``nyx/data/bridge/``) and are checked against a pinned sha256.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nyx.encoders.base import l2_normalize
from nyx.encoders.weights import read_weights

#: The bridge this release ships and was measured with, and its sha256.
SHIPPED_BRIDGE = Path(__file__).resolve().parent.parent / "data" / "bridge" / \
    "nyx-lite-bridge-v1.safetensors"
SHIPPED_BRIDGE_SHA256 = "fe014321209f780b5a890960955f3a2ece539daa7ec2177e0130f3dc683ccfed"

_TENSORS = ("feature_mean", "feature_std", "w1", "b1", "w2", "b2", "conse_scale")


class BridgeFileError(RuntimeError):
    """The bridge weights are missing, unreadable or not the file this release pins."""


def _gelu(x: np.ndarray) -> np.ndarray:
    # The tanh approximation, as torch's gelu(approximate="tanh") used in training.
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


@dataclass
class ImageBridge:
    """Bridge weights: ``w1`` is ``(hidden, features + dim)``, ``w2`` is ``(dim, hidden)``."""

    feature_mean: np.ndarray
    feature_std: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    conse_scale: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in _TENSORS:
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float32))
        hidden, inputs = self.w1.shape
        if (self.w2.shape != (self.out_dim, hidden) or self.b1.shape != (hidden,)
                or self.feature_mean.shape != (inputs - self.out_dim,)
                or self.feature_std.shape != self.feature_mean.shape):
            raise ValueError(f"inconsistent bridge shapes: w1 {self.w1.shape}, w2 "
                             f"{self.w2.shape}, feature_mean {self.feature_mean.shape}")

    @property
    def out_dim(self) -> int:
        return int(self.w2.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.feature_mean.shape[0])

    def __call__(self, features: np.ndarray, conse: np.ndarray) -> np.ndarray:
        """``features`` (n, 1280) and unit ConSE vectors (n, dim) -> unit vectors (n, dim)."""
        features = np.asarray(features, dtype=np.float32)
        conse = l2_normalize(conse)
        if features.shape[-1] != self.feature_dim or conse.shape[-1] != self.out_dim:
            raise ValueError(f"bridge expects {self.feature_dim}-d features and "
                             f"{self.out_dim}-d ConSE vectors, got {features.shape} and "
                             f"{conse.shape}")
        x = np.concatenate([(features - self.feature_mean) / self.feature_std, conse], axis=1)
        hidden = _gelu(x @ self.w1.T + self.b1)
        return l2_normalize(self.conse_scale * conse + hidden @ self.w2.T + self.b2)

    def save(self, path: str | Path, dtype: Any = np.float16) -> Path:
        """Write safetensors (matrices in ``dtype``, float16 by default: half the size)."""
        from safetensors.numpy import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {name: getattr(self, name) for name in _TENSORS}
        tensors["w1"] = tensors["w1"].astype(dtype)
        tensors["w2"] = tensors["w2"].astype(dtype)
        tmp = path.with_name(path.name + ".tmp")
        save_file(tensors, str(tmp), metadata={"nyx": json.dumps(self.meta)})
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, sha256: str | None = None) -> ImageBridge:
        """Read a bridge; with ``sha256`` the file must have exactly that checksum."""
        path = Path(path)
        if not path.is_file():
            raise BridgeFileError(f"image bridge weights not found: {path} (reinstall "
                                  "nyx-retrieval, or pass bridge='conse')")
        if sha256 is not None:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != sha256:
                raise BridgeFileError(
                    f"image bridge {path} has sha256 {digest[:16]}…, expected {sha256[:16]}…; "
                    "the file changed since this release was measured: reinstall nyx-retrieval"
                )
        tensors, meta = read_weights(path, _TENSORS, "image bridge", BridgeFileError)
        return cls(**{name: tensors[name] for name in _TENSORS}, meta=meta)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for name in _TENSORS:
            h.update(getattr(self, name).tobytes())
        return h.hexdigest()[:12]


def load_shipped_bridge() -> ImageBridge:
    """The bridge inside the package, checked against :data:`SHIPPED_BRIDGE_SHA256`."""
    return ImageBridge.load(SHIPPED_BRIDGE, sha256=SHIPPED_BRIDGE_SHA256)
