"""A caption surrogate for easy-VQA images, so that a text-only generator can answer about them.

No vision-language model ships in a registry package (see shared/OFFLINE.md), and nyx-lite's
image signals do not describe these images: its ImageNet labels (ConSE) name no synthetic
shape and OCR finds no text. So each 64x64 image is described from its pixels by a fixed
rule, with no learning and no look at the questions or answers:

* the **shape** is the pixels that differ from the background (the commonest border colour);
* its **colour** is the palette colour nearest to the shape's median RGB;
* its **kind** comes from how much of its bounding box it fills: a rectangle ~1.0, a circle
  ~pi/4 (0.79), a triangle ~0.5-0.65.

The caption reads ``"Image 12 shows a blue circle."``. A system answering from it measures
question answering over a pixel-derived description (reading, yes/no logic, negation), not
visual recognition; :func:`caption_accuracy` says how often the description is right against
the attributes the data set loader infers from the question/answer pairs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["PALETTE", "ImageCaption", "caption_accuracy", "caption_image", "describe_pixels"]

#: The eight colours of easy-VQA 1.0 as RGB (CSS named colours, as its generator draws them).
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0), "green": (0, 128, 0), "blue": (0, 0, 255), "black": (0, 0, 0),
    "gray": (128, 128, 128), "teal": (0, 128, 128), "brown": (165, 42, 42),
    "yellow": (255, 255, 0),
}
RECTANGLE_FILL = 0.9
CIRCLE_FILL = 0.7
BACKGROUND_DISTANCE = 60


@dataclass(frozen=True)
class ImageCaption:
    """What the rule saw in one image."""

    color: str
    shape: str
    fill: float

    def text(self, label: str) -> str:
        return f"Image {label} shows a {self.color} {self.shape}."


def describe_pixels(rgb: np.ndarray) -> ImageCaption:
    """Colour and shape of the one shape in an ``(H, W, 3)`` RGB array."""
    pixels = rgb.astype(np.int32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    values, counts = np.unique(border.reshape(-1, 3), axis=0, return_counts=True)
    background = values[counts.argmax()]
    mask = np.abs(pixels - background).sum(-1) > BACKGROUND_DISTANCE
    if not mask.any():
        return ImageCaption("gray", "rectangle", 0.0)
    ys, xs = np.nonzero(mask)
    fill = float(mask.sum() / ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)))
    median = np.median(pixels[mask], axis=0)
    color = min(PALETTE, key=lambda c: float(((median - np.array(PALETTE[c])) ** 2).sum()))
    shape = ("rectangle" if fill >= RECTANGLE_FILL else
             "circle" if fill >= CIRCLE_FILL else "triangle")
    return ImageCaption(color, shape, round(fill, 3))


def caption_image(path: str | Path) -> ImageCaption:
    from PIL import Image

    with Image.open(path) as image:
        return describe_pixels(np.asarray(image.convert("RGB")))


def caption_accuracy(captions: dict[str, ImageCaption],
                     attributes: dict[str, dict[str, str]]) -> dict[str, float | int]:
    """Share of images whose caption colour / shape match the loader's inferred attributes
    (images the loader could not resolve are left out)."""
    shared = [doc_id for doc_id in captions if doc_id in attributes]
    if not shared:
        return {"images": 0, "color": float("nan"), "shape": float("nan"), "both": float("nan")}
    color = [captions[d].color == attributes[d]["color"] for d in shared]
    shape = [captions[d].shape == attributes[d]["shape"] for d in shared]
    return {"images": len(shared), "color": float(np.mean(color)),
            "shape": float(np.mean(shape)),
            "both": float(np.mean([c and s for c, s in zip(color, shape)]))}
