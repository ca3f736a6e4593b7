"""Unsupervised pseudo-queries from an index's own passages (for ``nyx-index adapt``).

Two kinds, both free (no generator runs):

* ``"sentence"``: one sentence of the passage (inverse cloze task, Lee et al. 2019), 5-40
  words; a passage without such a sentence gives its first 20 words;
* ``"span"``: a run of 4-10 consecutive words, like a keyword query.

The passage a query came from is only where it was drawn: which passages are relevant to it is
decided by the cross-encoder teacher (:mod:`nyx.training.adapt`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

__all__ = ["QUERY_KINDS", "PseudoQuery", "make_query"]

QUERY_KINDS = ("sentence", "span")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class PseudoQuery:
    """A query drawn from the stored document ``source``."""

    qid: str
    text: str
    source: str


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def make_query(text: str, kind: str, rng: random.Random) -> str:
    """One pseudo-query of ``kind`` from the passage ``text`` ("" when it has no words)."""
    if kind not in QUERY_KINDS:
        raise ValueError(f"unknown pseudo-query kind {kind!r}; choose one of "
                         f"{', '.join(QUERY_KINDS)}")
    words = text.split()
    if not words:
        return ""
    if kind == "span":
        size = rng.randint(4, 10)
        if len(words) <= size:
            return " ".join(words)
        start = rng.randrange(len(words) - size + 1)
        return " ".join(words[start:start + size])
    fitting = [s for s in _sentences(text) if 5 <= len(s.split()) <= 40]
    return rng.choice(fitting) if fitting else " ".join(words[:20])
