"""``nyx-lite``'s learned image projection: a Linear 1280 -> 384 trained on frozen towers.

Images enter through EfficientNet-Lite0's pooled features (cached on disk by
:class:`~nyx.training.features.FeatureCache`), text through frozen all-MiniLM-L6-v2 vectors (cached
in memory), so an epoch costs one small matrix product per batch. Items are fused exactly as
``NyxLite`` fuses them; the exported checkpoint is what ``load_encoder("nyx-lite:PATH")`` reads.
OCR is not part of training: at inference OCR text, when present, is mixed in on top.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nyx.content import ImagePart, Item
from nyx.encoders.lite import NyxLite
from nyx.encoders.projection import ImageProjection
from nyx.training.embedders.base import TrainableEmbedder
from nyx.training.features import FeatureCache, image_key

logger = logging.getLogger(__name__)

FEATURE_DIM = 1280
PROJECTION_FILE = "projection.safetensors"


class LiteProjectionEmbedder(TrainableEmbedder):
    """Text: frozen MiniLM. Images: ``normalize(Linear(features))``. Interleaved: fused."""

    def __init__(self, feature_cache: str | Path, lite: NyxLite | None = None, *,
                 feature_dropout: float = 0.0, text_weight: float = 0.5,
                 init_from: str | Path | None = None) -> None:
        super().__init__()
        if not 0.0 <= text_weight <= 1.0:
            raise ValueError(f"text_weight must be within [0, 1], got {text_weight}")
        self.lite = lite if lite is not None else NyxLite(device="cpu", ocr=False)
        self.dim = self.lite.dim
        self.linear = nn.Linear(FEATURE_DIM, self.dim)
        self.dropout = nn.Dropout(feature_dropout)
        self.text_weight = text_weight
        self.features = FeatureCache(feature_cache)
        self._text_vectors: dict[str, np.ndarray] = {}
        self._keys: dict[str, str] = {}
        if init_from:
            self.load_projection(ImageProjection.load(init_from))

    def load_projection(self, projection: ImageProjection) -> None:
        if projection.weight.shape != tuple(self.linear.weight.shape):
            raise ValueError(f"projection is {projection.weight.shape}, expected "
                             f"{tuple(self.linear.weight.shape)}")
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(projection.weight))
            self.linear.bias.copy_(torch.from_numpy(projection.bias))

    def to_projection(self, meta: dict[str, object] | None = None) -> ImageProjection:
        return ImageProjection(self.linear.weight.detach().cpu().numpy(),
                               self.linear.bias.detach().cpu().numpy(), dict(meta or {}))

    # -- frozen inputs ------------------------------------------------------------------------

    def _key(self, part: ImagePart) -> str:
        path = part.path
        if path is None:
            return image_key(part)
        name = str(path)
        if name not in self._keys:
            self._keys[name] = image_key(part)
        return self._keys[name]

    def prepare(self, items: Sequence[Item], *, show_progress: bool = True) -> None:
        parts = [p for item in items for p in item.images]
        if parts:
            keys = [self._key(p) for p in parts]
            self.features.build(parts, lambda: self.lite.image_tower.run, keys=keys,
                                show_progress=show_progress)
        self._text(sorted({item.text for item in items if item.text}), show_progress)

    def _text(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._text_vectors]
        if todo:
            vectors = self.lite.encode_texts(todo, batch_size=64, show_progress=show_progress)
            self._text_vectors.update(zip(todo, vectors))
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._text_vectors[t] for t in texts])

    def image_features(self, parts: Sequence[ImagePart]) -> np.ndarray:
        keys = [self._key(p) for p in parts]
        missing = [(k, p) for k, p in zip(keys, parts) if k not in self.features]
        if missing:
            self.features.build([p for _, p in missing], lambda: self.lite.image_tower.run,
                                keys=[k for k, _ in missing], show_progress=False)
        failed = [self.features.failed[k] for k in keys if k in self.features.failed]
        if failed:
            raise ValueError(f"{len(failed)} training image(s) cannot be read, first: "
                             f"{failed[0]}; remove them from the training data")
        return self.features.get(keys)[0]

    # -- TrainableEmbedder --------------------------------------------------------------------

    def project(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(self.dropout(features)), dim=-1)

    def embed(self, items: Sequence[Item], *, is_query: bool) -> torch.Tensor:
        device = self.linear.weight.device
        n = len(items)
        texts = [item.text for item in items]
        has_text = torch.tensor([bool(t) for t in texts], device=device)
        has_image = torch.tensor([bool(item.images) for item in items], device=device)
        if not bool((has_text | has_image).all()):
            raise ValueError("every item needs text or images")
        text = torch.zeros(n, self.dim, device=device)
        rows = [i for i, t in enumerate(texts) if t]
        if rows:
            text[rows] = torch.from_numpy(self._text([texts[i] for i in rows])).to(device)
        if not bool(has_image.any()):
            return F.normalize(text, dim=-1)
        parts = [p for item in items for p in item.images]
        owner = torch.tensor([i for i, item in enumerate(items) for _ in item.images],
                             device=device)
        projected = self.project(torch.from_numpy(self.image_features(parts)).to(device))
        # Mean of each item's normalised image vectors, renormalised (as nyx-lite fuses them).
        image = F.normalize(torch.zeros(n, self.dim, device=device).index_add(0, owner,
                                                                              projected), dim=-1)
        text = F.normalize(text, dim=-1)
        fused = F.normalize(self.text_weight * text + (1 - self.text_weight) * image, dim=-1)
        both = (has_text & has_image)[:, None]
        return torch.where(both, fused, torch.where(has_image[:, None], image, text))

    def export(self, folder: str | Path) -> Path:
        meta = {"trained_by": "nyx-train", "in_dim": FEATURE_DIM, "out_dim": self.dim,
                "image_tower": "efficientnet-lite0", "text_tower": "all-MiniLM-L6-v2"}
        return self.to_projection(meta).save(Path(folder) / PROJECTION_FILE)
