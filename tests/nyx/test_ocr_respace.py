"""OCR respacing: words the recogniser ran together are split back, rare words stay whole."""

from __future__ import annotations

import re

import pytest

from nyx.encoders.ocr import OCRReader
from nyx.encoders.respace import respace
from tests.helpers import render_text


@pytest.mark.parametrize(("text", "expected"), [
    ("WhatdidLutherrefusetodo?", "What did Luther refuse to do?"),
    ("CivilDisobedience", "Civil Disobedience"),
    ("(canhave)", "(can have)"),
    ("Libraryhours: open daily", "Library hours: open daily"),
    ("line one\nWhatwasTesla'smother'sname?", "line one\nWhat was Tesla's mother's name?"),
    # left alone: words, rare words, short tokens, numbers, mixed tokens
    ("peptidoglycan layer", "peptidoglycan layer"),
    ("contemporary Mongolian currency", "contemporary Mongolian currency"),
    ("intrusively philogiston", "intrusively philogiston"),
    ("a cat, 2016, V&A, 5oth", "a cat, 2016, V&A, 5oth"),
    ("", ""),
])
def test_respace(text: str, expected: str) -> None:
    assert respace(text) == expected


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def test_ocr_reads_a_line_it_runs_together_with_its_spaces() -> None:
    # PP-OCRv4 reads this rendering as "WhatdidLutherrefusetodo?" (measured; see
    # benchmarks/ocr_text.py for the rate over 200 SQuAD sentences).
    image = render_text("What did Luther refuse to do?", size=(900, 160), font_size=30)
    raw = OCRReader(respace=False).read(image)
    fixed = OCRReader().read(image)
    assert words(raw) != words("What did Luther refuse to do?")  # the problem is real
    assert words(fixed) == words("What did Luther refuse to do?")
