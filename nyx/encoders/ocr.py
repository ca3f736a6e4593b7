"""Reading the text inside images with the PP-OCRv4 models shipped in ``rapidocr-onnxruntime``."""

from __future__ import annotations

import logging
import threading

import numpy as np
from PIL import Image, ImageOps

from nyx.encoders.respace import respace

logger = logging.getLogger(__name__)


class OCRReader:
    """Lazy RapidOCR wrapper returning the text lines it is confident about, top to bottom."""

    def __init__(self, min_confidence: float = 0.6, pad: int = 16, respace: bool = True) -> None:
        self.min_confidence = min_confidence
        #: Split words the recogniser ran together (see :mod:`nyx.encoders.respace`).
        self.respace = respace
        # The detector misses lines near the border; a white margin fixes that. 16 px measured
        # best on rendered signs: wider margins make the recogniser drop spaces between words.
        self.pad = pad
        self._engine = None
        self._lock = threading.Lock()

    def _get_engine(self):
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise ImportError(
                    "OCR needs the PyPI package rapidocr-onnxruntime: "
                    "pip install rapidocr-onnxruntime (or pass ocr=False)"
                ) from exc
            # The rapidocr logger is chatty at INFO; keep it at warnings.
            logging.getLogger("RapidOCR").setLevel(logging.WARNING)
            self._engine = RapidOCR()
        return self._engine

    def read(self, image: Image.Image) -> str:
        """All confident text lines of ``image`` joined by newlines ('' when there are none)."""
        with self._lock:  # onnxruntime sessions are shared; keep calls serial
            padded = ImageOps.expand(image.convert("RGB"), border=self.pad, fill="white")
            result, _ = self._get_engine()(np.asarray(padded))
        if not result:
            return ""
        lines = [(box, text) for box, text, score in result
                 if float(score) >= self.min_confidence and text.strip()]
        lines.sort(key=lambda entry: (round(min(p[1] for p in entry[0]) / 10), entry[0][0][0]))
        text = "\n".join(text.strip() for _, text in lines)
        return respace(text) if self.respace else text
