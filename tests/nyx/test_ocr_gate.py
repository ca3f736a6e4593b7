"""The OCR text-presence gate: photos skip the OCR pipeline, text images read as without it."""

from __future__ import annotations

import pytest

from nyx.encoders.ocr import OCRReader
from tests.helpers import render_text, skimage_photo


@pytest.fixture(scope="module")
def readers() -> tuple[OCRReader, OCRReader]:
    return OCRReader(), OCRReader(gate_side=None)


def test_photos_hold_no_text_for_the_gate(readers) -> None:
    gated, _ = readers
    for name in ("coffee", "chelsea", "rocket"):
        assert not gated.may_hold_text(skimage_photo(name))
        assert gated.read(skimage_photo(name)) == ""


def test_text_images_read_the_same_with_and_without_the_gate(readers) -> None:
    gated, full = readers
    for sentence in ("Closed for lunch until two",
                     "Please water the tomato plants every evening."):
        image = render_text(sentence)
        assert gated.may_hold_text(image)
        assert gated.read(image) == full.read(image) != ""


def test_gate_side_is_checked() -> None:
    with pytest.raises(ValueError, match="gate_side"):
        OCRReader(gate_side=8)
