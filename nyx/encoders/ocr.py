"""Reading the text inside images with the PP-OCRv4 models shipped in ``rapidocr-onnxruntime``."""

from __future__ import annotations

import logging
import threading

import numpy as np
from PIL import Image, ImageOps

from nyx.encoders.respace import respace

logger = logging.getLogger(__name__)


#: Longer side of the image the text-presence test looks at (the full detector uses >= 736).
GATE_SIDE = 320


class OCRReader:
    """Lazy RapidOCR wrapper returning the text lines it is confident about, top to bottom.

    With ``gate_side`` set, a cheap text-presence test runs first: the same PP-OCRv4 detector on
    the image shrunk to ``gate_side`` pixels (about 1/8 of the full detector's pixels). When it
    finds no text region, the full detector, the angle classifier and the recogniser are
    skipped: most photos cost one small detector pass instead of the whole pipeline.
    """

    def __init__(self, min_confidence: float = 0.6, pad: int = 16, respace: bool = True,
                 gate_side: int | None = GATE_SIDE) -> None:
        if gate_side is not None and gate_side < 32:
            raise ValueError(f"gate_side must be >= 32 pixels (or None), got {gate_side}")
        self.min_confidence = min_confidence
        self.gate_side = gate_side
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

    def may_hold_text(self, image: Image.Image) -> bool:
        """The text-presence test: does the detector find any region on a small copy?"""
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

        det = self._get_engine().text_det
        small = image.copy()
        small.thumbnail((self.gate_side, self.gate_side), Image.Resampling.BILINEAR)
        array = np.asarray(small)  # channel order as read() passes it to the full pipeline
        batch = DetPreProcess(self.gate_side, "max", det.mean, det.std)(array)
        if batch is None:
            return True
        boxes, _ = det.postprocess_op(det.infer(batch)[0], array.shape[:2])
        return len(boxes) > 0

    def read(self, image: Image.Image) -> str:
        """All confident text lines of ``image`` joined by newlines ('' when there are none)."""
        with self._lock:  # onnxruntime sessions are shared; keep calls serial
            padded = ImageOps.expand(image.convert("RGB"), border=self.pad, fill="white")
            if self.gate_side is not None and not self.may_hold_text(padded):
                return ""
            result, _ = self._get_engine()(np.asarray(padded))
        if not result:
            return ""
        lines = [(box, text) for box, text, score in result
                 if float(score) >= self.min_confidence and text.strip()]
        lines.sort(key=lambda entry: (round(min(p[1] for p in entry[0]) / 10), entry[0][0][0]))
        text = "\n".join(text.strip() for _, text in lines)
        return respace(text) if self.respace else text
