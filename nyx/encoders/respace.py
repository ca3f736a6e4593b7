"""Putting back the spaces OCR drops between words ("WhatdidLutherrefusetodo?").

PP-OCRv4's recogniser sometimes runs words of a line together. A run-together token (letters
only, at least 6 of them, not itself an English word) is split with wordninja's English
Wikipedia unigram model, and the split is kept only when it is plausible: pieces average at
least 3.5 letters, every piece is a reasonably common word, and pieces of one or two letters
are very common words ("to", "of", "a"). Rare words ("peptidoglycan") and names the model knows
("Smiljan") stay whole; a rare name made of common words ("Fortnow") can still be split.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["respace"]

_TOKEN = re.compile(r"^([^A-Za-z]*)([A-Za-z][A-Za-z']*[A-Za-z])([^A-Za-z]*)$")
MIN_LETTERS = 6
MIN_MEAN_PIECE = 3.5
#: wordninja's cost is log(rank * log(vocabulary)): 12.3 keeps words up to rank ~19,000.
MAX_PIECE_COST = 12.3
MAX_SHORT_PIECE_COST = 8.0


@lru_cache(maxsize=1)
def _model() -> Any:
    try:
        import wordninja
    except ImportError as exc:  # a core dependency; only a broken install lacks it
        raise ImportError("OCR respacing needs the PyPI package wordninja: "
                          "pip install wordninja") from exc
    return wordninja.DEFAULT_LANGUAGE_MODEL


def _respace_token(token: str) -> str:
    match = _TOKEN.match(token)
    if match is None:
        return token
    lead, core, trail = match.groups()
    model = _model()
    costs = model._wordcost  # word -> cost; the model exposes no public lookup
    if len(core) < MIN_LETTERS or core.lower() in costs:
        return token
    pieces = model.split(core)
    if len(pieces) < 2 or "".join(pieces) != core or len(core) / len(pieces) < MIN_MEAN_PIECE:
        return token
    # "Tesla's" is looked up as "tesla"
    piece_costs = [costs.get(p.lower().split("'")[0], float("inf")) for p in pieces]
    if max(piece_costs) > MAX_PIECE_COST or any(
            len(p) <= 2 and c > MAX_SHORT_PIECE_COST for p, c in zip(pieces, piece_costs)):
        return token
    return lead + " ".join(pieces) + trail


def respace(text: str) -> str:
    """``text`` with run-together English words split; lines and other tokens unchanged."""
    return "\n".join(" ".join(_respace_token(t) for t in line.split(" "))
                     for line in text.split("\n"))
