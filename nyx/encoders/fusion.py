"""Fusing the text and image vectors of an interleaved item into one vector."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fuse_vectors(text_vector: np.ndarray | None, image_vectors: Sequence[np.ndarray],
                 text_weight: float = 0.5) -> np.ndarray:
    """Weighted sum of the (normalised) text vector and the mean of the normalised image vectors.

    ``text_weight`` in [0, 1] is the share of the text; the images share ``1 - text_weight``.
    An item with only text or only images gets that modality's vector unchanged.
    """
    if not 0.0 <= text_weight <= 1.0:
        raise ValueError(f"text_weight must be within [0, 1], got {text_weight}")
    images = [_unit(v) for v in image_vectors]
    if text_vector is None and not images:
        raise ValueError("nothing to fuse: no text vector and no image vectors")
    if text_vector is None:
        return _unit(np.mean(images, axis=0))
    if not images:
        return _unit(text_vector)
    image_mean = _unit(np.mean(images, axis=0))
    return _unit(text_weight * _unit(text_vector) + (1.0 - text_weight) * image_mean)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v
