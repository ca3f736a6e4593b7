"""ConSE: images enter a text embedding space through their ImageNet class names.

Norouzi et al., "Zero-Shot Learning by Convex Combination of Semantic Embeddings", ICLR 2014:
an image's vector is the probability-weighted sum of the text embeddings of its top-T classes.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: How a class name becomes a sentence for the text encoder.
DEFAULT_TEMPLATE = "a photo of a {name}."


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet-1k class descriptions, e.g. ``"tench, Tinca tinca"``."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(i) for i in range(1000)]


def class_prompts(names: list[str], template: str = DEFAULT_TEMPLATE) -> list[str]:
    """One sentence per class, using the class's synonyms (``"tabby, tabby cat"``)."""
    return [template.format(name=name.replace(", ", " or ")) for name in names]


class ConSE:
    """Maps class probabilities to the convex combination of class text embeddings."""

    def __init__(self, class_vectors: np.ndarray, top_t: int = 10) -> None:
        if top_t < 1:
            raise ValueError(f"top_t must be >= 1, got {top_t}")
        self.class_vectors = np.asarray(class_vectors, dtype=np.float32)
        self.top_t = min(top_t, len(self.class_vectors))

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        """``probabilities`` (n, classes) -> unnormalised vectors (n, dim)."""
        probs = np.asarray(probabilities, dtype=np.float32)
        top = np.argpartition(-probs, self.top_t - 1, axis=1)[:, : self.top_t]
        weights = np.take_along_axis(probs, top, axis=1)
        weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        return np.einsum("nt,ntd->nd", weights, self.class_vectors[top])

    def top_classes(self, probabilities: np.ndarray, names: list[str],
                    n: int = 3) -> list[list[tuple[str, float]]]:
        """The ``n`` most probable class names per image, for explanations and alt text."""
        probs = np.asarray(probabilities)
        order = np.argsort(-probs, axis=1)[:, :n]
        return [[(names[j], float(probs[i, j])) for j in row] for i, row in enumerate(order)]


def cache_dir() -> Path:
    """Nyx's cache folder: ``$NYX_CACHE`` or ``~/.cache/nyx``."""
    return Path(os.environ.get("NYX_CACHE") or Path.home() / ".cache" / "nyx")


def cached_class_vectors(template: str, compute: Callable[[], np.ndarray],
                         tower: str = "") -> np.ndarray:
    """Class-name text vectors, computed once per template and text model and kept on disk.
    ``tower`` tells apart text towers other than the plain fp32 MiniLM (a precision, an
    adapter)."""
    from nyx.encoders.towers import MINILM_SHA256

    name = f"{MINILM_SHA256}|{template}" + (f"|{tower}" if tower else "")
    key = hashlib.sha256(name.encode()).hexdigest()[:16]
    path = cache_dir() / "conse" / f"imagenet-{key}.npy"
    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError) as exc:
            logger.warning("recomputing unreadable ConSE cache %s: %s", path, exc)
    vectors = np.asarray(compute(), dtype=np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, vectors)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home is fine: compute each time
        logger.info("could not cache ConSE vectors at %s: %s", path, exc)
    return vectors
