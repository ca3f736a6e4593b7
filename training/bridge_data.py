"""Frozen inputs of bridge training, computed once per source and kept on disk.

For every image of every source (:mod:`nyx.training.image_sources`): EfficientNet-Lite0's pooled
features and ImageNet probabilities (:class:`~nyx.training.features.FeatureCache`, one folder per
source and image tower: ``features`` for Lite0, ``features-lite2`` for Lite2). For every caption:
its frozen MiniLM vector (one ``.npz`` per source). A :class:`SourceArrays` then holds a source's
matrices, so that training and the leave-one-source-out evaluation never run a network again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nyx.content import ImagePart
from nyx.encoders.conse import cache_dir
from nyx.training.features import FeatureCache, image_key
from nyx.training.image_sources import CaptionedImage

logger = logging.getLogger(__name__)

TextEncodeFn = Callable[[list[str]], np.ndarray]


def default_cache_root() -> Path:
    return cache_dir() / "training" / "bridge"


def features_folder(tower: str = "lite0") -> str:
    """Name of a source's feature-cache folder for an image tower (Lite0 keeps ``features``)."""
    return "features" if tower == "lite0" else f"features-{tower}"


@dataclass
class SourceArrays:
    """One source's frozen inputs, row-aligned with its images."""

    name: str
    features: np.ndarray  # (n, 1280)
    probs: np.ndarray  # (n, 1000)
    split: np.ndarray  # (n,) "train" / "eval"
    #: The evaluation query of each image.
    captions: list[str]
    #: Training caption vectors: ``caption_vectors[caption_rows[i]]`` are image i's captions.
    caption_rows: list[np.ndarray]
    caption_vectors: np.ndarray  # (m, 384)
    #: Vector of each image's evaluation caption.
    query_vectors: np.ndarray  # (n, 384)

    def take(self, split: str) -> SourceArrays:
        rows = np.flatnonzero(self.split == split)
        return SourceArrays(self.name, self.features[rows], self.probs[rows], self.split[rows],
                            [self.captions[i] for i in rows], [self.caption_rows[i] for i in rows],
                            self.caption_vectors, self.query_vectors[rows])

    def __len__(self) -> int:
        return len(self.captions)


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class TextVectorCache:
    """Frozen text vectors keyed by a hash of the text, stored in one ``.npz`` file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"]))

    def get(self, texts: list[str], encode: TextEncodeFn) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if _text_key(t) not in self.vectors))
        if todo:
            for text, vector in zip(todo, encode(todo)):
                self.vectors[_text_key(text)] = np.asarray(vector, dtype=np.float32)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp.npz")
            np.savez(tmp, keys=np.asarray(list(self.vectors)),
                     vectors=np.stack(list(self.vectors.values())))
            tmp.replace(self.path)
        return np.stack([self.vectors[_text_key(t)] for t in texts])


def featurise_source(name: str, items: list[CaptionedImage], load_tower: Callable,
                     encode: TextEncodeFn, root: Path | None = None,
                     show_progress: bool = True, tower: str = "lite0") -> SourceArrays:
    """Image features and caption vectors of one source (computed only where not cached)."""
    root = root or default_cache_root()
    cache = FeatureCache(root / name / features_folder(tower))
    parts = [ImagePart(item.image) for item in items]
    keys = [image_key(p) for p in parts]
    cache.build(parts, load_tower, keys=keys, show_progress=show_progress)
    kept = [i for i, k in enumerate(keys) if k in cache]
    if len(kept) < len(items):
        logger.warning("%s: %d unreadable images left out", name, len(items) - len(kept))
    items = [items[i] for i in kept]
    features, probs = cache.get([keys[i] for i in kept])
    texts = TextVectorCache(root / name / "texts.npz")
    all_captions: list[str] = []
    rows = []
    for item in items:
        captions = item.training_captions()
        rows.append(np.arange(len(all_captions), len(all_captions) + len(captions)))
        all_captions.extend(captions)
    caption_vectors = texts.get(all_captions, encode)
    query_vectors = texts.get([item.caption for item in items], encode)
    return SourceArrays(name, features, probs, np.asarray([i.split for i in items]),
                        [i.caption for i in items], rows, caption_vectors, query_vectors)


def load_source_arrays(names: list[str] | None = None, root: Path | None = None,
                       show_progress: bool = True,
                       tower: str = "lite0") -> tuple[list[SourceArrays], object]:
    """Every available source's arrays and the ``NyxLite`` (plain ConSE) that made them.

    ``tower`` picks the image tower (:data:`nyx.encoders.towers.IMAGE_TOWERS`); the returned
    ``NyxLite`` still holds Lite0, but its ConSE (class-name vectors) serves every tower.
    """
    from nyx.encoders.lite import NyxLite
    from nyx.encoders.towers import IMAGE_TOWERS, ImageTower
    from nyx.training.image_sources import load_sources

    if tower not in IMAGE_TOWERS:
        raise ValueError(f"unknown image tower {tower!r}: one of {sorted(IMAGE_TOWERS)}")
    lite = NyxLite(device="cpu", ocr=False, bridge="conse")
    towers: dict[str, ImageTower] = {}

    def load_tower() -> Callable:
        if tower == "lite0":
            return lite.image_tower.run
        if tower not in towers:  # loaded once, only if some source has uncached images
            towers[tower] = ImageTower.load("cpu", tower)
        return towers[tower].run

    def encode(texts: list[str]) -> np.ndarray:
        return lite.encode_texts(texts, batch_size=64, show_progress=show_progress)

    arrays = [featurise_source(name, items, load_tower, encode, root, show_progress, tower)
              for name, items in load_sources(names)]
    return arrays, lite
