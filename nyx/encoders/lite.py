"""``nyx-lite``: the offline default encoder, built only from models shipped in PyPI packages.

Text: all-MiniLM-L6-v2. Images: EfficientNet-Lite0 ImageNet probabilities mapped into the text
space by ConSE (default) or by the trained image bridge shipped in the package
(``bridge="trained"``: EfficientNet features with ConSE as input and residual), enriched with the
image's own text read by OCR, or a learned projection of the image features when a checkpoint is
given. Interleaved items fuse text and image vectors.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from nyx.content import ImagePart, Item
from nyx.encoders.base import Encoder, l2_normalize, resolve_device
from nyx.encoders.bridge import SHIPPED_BRIDGE_SHA256, ImageBridge, load_shipped_bridge
from nyx.encoders.conse import (
    DEFAULT_TEMPLATE,
    ConSE,
    cached_class_vectors,
    class_prompts,
    imagenet_class_names,
)
from nyx.encoders.fusion import fuse_vectors
from nyx.encoders.minilm_onnx import PRECISIONS, OnnxMiniLM
from nyx.encoders.ocr import GATE_SIDE, OCRReader
from nyx.encoders.projection import ImageProjection
from nyx.encoders.text_adapter import TextAdapter
from nyx.encoders.towers import ImageTower, load_text_tower, minilm_dir

logger = logging.getLogger(__name__)

LITE_VERSION = "0.1"
#: Values of ``LiteConfig.bridge``.
BRIDGES = ("trained", "conse")


@dataclass
class LiteConfig:
    """Settings of ``nyx-lite``; each one that changes vectors is part of the version string."""

    #: ConSE: how many of the most probable ImageNet classes make an image's vector.
    top_t: int = 10
    conse_template: str = DEFAULT_TEMPLATE
    #: Read text inside images with OCR and mix it into the image's vector.
    ocr: bool = True
    #: Share of the OCR text vector in an image's vector when the image holds enough text.
    ocr_weight: float = 0.75
    #: Split words the OCR recogniser ran together ("WhatdidLuther" -> "What did Luther").
    ocr_respace: bool = True
    #: Images with fewer OCR characters than this are treated as having no text.
    ocr_min_chars: int = 4
    #: Skip the OCR pipeline when the detector finds no text on a copy this small (pixels,
    #: longer side); 0 runs the full OCR on every image.
    ocr_gate: int = GATE_SIDE
    #: Share of the text in an interleaved item's vector (images share the rest).
    text_weight: float = 0.5
    #: How images reach the text space: "conse" (ConSE over ImageNet classes, the default) or
    #: "trained" (the bridge shipped in the package: better on icons, clipart and synthetic
    #: shapes held out of its training, worse on photos; see the README's image-bridge table).
    bridge: str = "conse"
    #: Optional learned image projection checkpoint (safetensors) replacing both.
    projection: str | None = None
    #: The text tower's precision on onnxruntime: "fp32" (the same vectors as
    #: sentence-transformers) or "int8" (faster, slightly different vectors: a new version).
    text_precision: str = "fp32"
    #: A low-rank adapter of the text tower learnt for one corpus by ``nyx-index adapt``
    #: (:mod:`nyx.encoders.text_adapter`; a file named by its checksum, inside the index
    #: folder). ``None``: the plain all-MiniLM-L6-v2.
    text_adapter: str | None = None


@dataclass
class ImageAnalysis:
    """What ``nyx-lite`` sees in one image."""

    vector: np.ndarray
    ocr_text: str
    labels: list[tuple[str, float]]


class NyxLite(Encoder):
    """The offline default encoder (384-d)."""

    name = "nyx-lite"

    def __init__(self, device: str | None = "cpu", config: LiteConfig | None = None,
                 **overrides: object) -> None:
        self.config = config or LiteConfig()
        for key, value in overrides.items():
            if not hasattr(self.config, key):
                raise TypeError(f"unknown nyx-lite option {key!r}; options: "
                                f"{', '.join(asdict(self.config))}")
            setattr(self.config, key, value)
        self.device = resolve_device(device)
        # The text tower runs on onnxruntime (loaded on first use), so text never imports
        # torch; only images (and a GPU device) do.
        self._text_model: OnnxMiniLM | None = None
        self._torch_text_model: Any = None
        self.dim = int(json.loads((minilm_dir() / "config.json").read_text())["hidden_size"])
        self._image_tower: ImageTower | None = None
        self._conse: ConSE | None = None
        self._class_names: list[str] | None = None
        self._ocr = (OCRReader(respace=self.config.ocr_respace,
                               gate_side=self.config.ocr_gate or None)
                     if self.config.ocr else None)
        if self.config.text_precision not in PRECISIONS:
            raise ValueError(f"unknown nyx-lite text_precision {self.config.text_precision!r}; "
                             f"choose one of {', '.join(PRECISIONS)}")
        if self.config.bridge not in BRIDGES:
            raise ValueError(f"unknown nyx-lite bridge {self.config.bridge!r}; choose one of "
                             f"{', '.join(BRIDGES)}")
        self._bridge: ImageBridge | None = None
        self.text_adapter = (TextAdapter.load(self.config.text_adapter)
                             if self.config.text_adapter else None)
        self.projection = (ImageProjection.load(self.config.projection)
                           if self.config.projection else None)
        if self.projection is not None and self.projection.out_dim != self.dim:
            raise ValueError(f"projection {self.config.projection} maps to "
                             f"{self.projection.out_dim}-d, nyx-lite's text space is {self.dim}-d")
        self._cache: OrderedDict[str, ImageAnalysis] = OrderedDict()
        self.version = self._version()

    def _version(self) -> str:
        c = self.config
        if self.projection:
            image = f"proj-{self.projection.fingerprint()}"
        elif c.bridge == "trained":
            # The pinned checksum names the weights without reading them (loaded lazily).
            image = f"bridge-{SHIPPED_BRIDGE_SHA256[:12]}-T{c.top_t}"
        else:
            image = f"conse-T{c.top_t}"
        if c.conse_template != DEFAULT_TEMPLATE and not self.projection:
            image += "-custom-template"
        ocr = (f"ocr{c.ocr_weight:g}" + ("+respace" if c.ocr_respace else "")
               + (f"+gate{c.ocr_gate}" if c.ocr_gate else "")) if c.ocr else "no-ocr"
        text = "minilm-l6-v2" + ("" if c.text_precision == "fp32" else f"-{c.text_precision}")
        if self.text_adapter is not None:
            text += f"+adapt-{self.text_adapter.tag}"
        return f"{LITE_VERSION};{text};effnet-lite0;{image};{ocr};tw{c.text_weight:g}"

    # -- towers ---------------------------------------------------------------------------

    @property
    def text_model(self) -> OnnxMiniLM:
        """The text tower, all-MiniLM-L6-v2 on onnxruntime (:mod:`nyx.encoders.minilm_onnx`),
        loaded on first use (its graph is written to the Nyx cache the first time ever)."""
        if self._text_model is None:
            self._text_model = OnnxMiniLM(minilm_dir(), self.config.text_precision,
                                          adapter=self.text_adapter)
        return self._text_model

    def encode_texts(self, texts: list[str], batch_size: int = 32,
                     show_progress: bool = False) -> np.ndarray:
        """Raw text-tower embeddings (normalised) for plain strings: on onnxruntime, or on
        torch (sentence-transformers, the same weights) when the encoder runs on a GPU."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.device == "cpu" or self.config.text_precision != "fp32" or \
                self.text_adapter is not None:
            return self.text_model.encode(texts, batch_size=batch_size,
                                          show_progress=show_progress)
        if self._torch_text_model is None:
            self._torch_text_model = load_text_tower(self.device)
        return self._torch_text_model.encode(texts, batch_size=batch_size,
                                             convert_to_numpy=True, normalize_embeddings=True,
                                             show_progress_bar=show_progress)

    def _text_tower_id(self) -> str:
        """What distinguishes this text tower's vectors from the plain fp32 one's ("" for it)."""
        parts = [] if self.config.text_precision == "fp32" else [self.config.text_precision]
        if self.text_adapter is not None:
            parts.append(f"adapt-{self.text_adapter.tag}")
        return "+".join(parts)

    @property
    def image_tower(self) -> ImageTower:
        if self._image_tower is None:
            self._image_tower = ImageTower.load(self.device)
        return self._image_tower

    @property
    def bridge(self) -> ImageBridge | None:
        """The shipped image bridge (checked by sha256 on first use); ``None`` for plain ConSE."""
        if self.config.bridge != "trained" or self.projection is not None:
            return None
        if self._bridge is None:
            self._bridge = load_shipped_bridge()
        return self._bridge

    @property
    def conse(self) -> ConSE:
        if self._conse is None:
            self._class_names = imagenet_class_names()
            vectors = cached_class_vectors(
                self.config.conse_template,
                lambda: self.encode_texts(class_prompts(self._class_names or [],
                                                        self.config.conse_template),
                                          batch_size=64),
                tower=self._text_tower_id())
            self._conse = ConSE(vectors, self.config.top_t)
        return self._conse

    def analyze_images(self, parts: list[ImagePart], batch_size: int = 32,
                       show_progress: bool = False) -> list[ImageAnalysis]:
        """Vectors, OCR text and top labels of images (cached by content hash)."""
        keys = [p.digest() for p in parts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        first = {k: p for k, p in zip(reversed(keys), reversed(parts))}
        with tqdm(total=len(todo), desc="nyx-lite: images", unit="img",
                  disable=not show_progress) as bar:
            for start in range(0, len(todo), batch_size):
                chunk = todo[start:start + batch_size]
                for key, analysis in zip(chunk, self._analyze([first[k] for k in chunk])):
                    self._remember(key, analysis)
                bar.update(len(chunk))
        return [self._cache[k] for k in keys]

    def _analyze(self, parts: list[ImagePart]) -> list[ImageAnalysis]:
        images = [p.load() for p in parts]
        probs, features = self.image_tower.run(images)
        conse = self.conse  # also loads class names
        base = l2_normalize(self.image_vectors(probs, features))
        labels = conse.top_classes(probs, self._class_names or [], n=3)
        texts = [self._ocr.read(im) if self._ocr else "" for im in images]
        # Stray glyphs read off photos ("O", "2") are noise, not text.
        texts = [t if len(t) >= self.config.ocr_min_chars else "" for t in texts]
        ocr_vectors = self.encode_texts([t for t in texts if t])
        out, j = [], 0
        for i, text in enumerate(texts):
            vector = base[i]
            if text:
                vector = fuse_vectors(ocr_vectors[j], [vector], self.config.ocr_weight)
                j += 1
            out.append(ImageAnalysis(vector, text, labels[i]))
        return out

    def image_vectors(self, probs: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Image vectors (unnormalised) from the tower's probabilities and features."""
        if self.projection is not None:
            return self.projection(features)
        bridge = self.bridge
        conse = self.conse(probs)
        return conse if bridge is None else bridge(features, conse)

    def _remember(self, key: str, analysis: ImageAnalysis) -> None:
        self._cache[key] = analysis
        self._cache.move_to_end(key)
        while len(self._cache) > 4096:
            self._cache.popitem(last=False)

    # -- Encoder --------------------------------------------------------------------------

    def _encode(self, items: list[Item], is_query: bool, batch_size: int,
                show_progress: bool) -> np.ndarray:
        # All texts go through the text tower in one call so that it can sort them by length
        # across the whole input, as sentence-transformers does.
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        texts = [item.text for item in items]
        text_rows = [i for i, t in enumerate(texts) if t]
        text_vectors = self.encode_texts([texts[i] for i in text_rows], batch_size, show_progress)
        text_of = dict(zip(text_rows, text_vectors))
        parts = [p for item in items for p in item.images]
        analyses = iter(self.analyze_images(parts, batch_size, show_progress))
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for i, item in enumerate(items):
            image_vectors = [next(analyses).vector for _ in item.images]
            out[i] = fuse_vectors(text_of.get(i), image_vectors, self.config.text_weight)
        return out

    def _encode_batch(self, items: list[Item], *, is_query: bool) -> np.ndarray:
        return self._encode(items, is_query, len(items), False)

    def document_text(self, item: Item) -> str:
        """Text a lexical index should hold for ``item``: its text plus the OCR text of images."""
        chunks = [item.text]
        if self._ocr is not None and item.images:
            chunks.extend(a.ocr_text for a in self.analyze_images(item.images))
        return "\n\n".join(c for c in chunks if c)


def load_lite(projection: str | Path | None = None, device: str | None = "cpu",
              **options: object) -> NyxLite:
    """Build ``nyx-lite``; ``projection`` is an optional trained image projection checkpoint."""
    config = LiteConfig(projection=str(projection) if projection else None)
    return NyxLite(device=device, config=config, **options)
