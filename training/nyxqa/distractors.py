"""Multiple-choice distractors: other answers of the same shape from the generated pool.

A 135M-parameter generator writes poor distractors, so they are drawn from the answers of
other questions: numbers for numbers, capitalised names for names, similar length otherwise.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from nyx.answer_metrics import normalize_answer

_NUMBER = re.compile(r"\d")


def answer_shape(answer: str) -> tuple[str, int]:
    """A coarse type (number, name, phrase) and a length bucket."""
    if _NUMBER.search(answer):
        kind = "number"
    elif answer[:1].isupper():
        kind = "name"
    else:
        kind = "phrase"
    return kind, min(len(answer.split()), 4)


def make_distractors(answer: str, pool: Sequence[str], n: int, seed: str = "") -> list[str]:
    """``n`` distinct answers from ``pool`` that differ from ``answer``, same shape preferred.

    Deterministic for a given ``seed`` (e.g. the question id). May return fewer than ``n`` when
    the pool is small.
    """
    if n <= 0:
        return []
    target = normalize_answer(answer)
    shape = answer_shape(answer)
    candidates: dict[str, str] = {}
    for other in pool:
        key = normalize_answer(other)
        if key and key != target and key not in target and target not in key:
            candidates.setdefault(key, other)
    rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16))
    options = sorted(candidates.values())
    rng.shuffle(options)
    same_kind = [o for o in options if answer_shape(o)[0] == shape[0]]
    same = [o for o in same_kind if answer_shape(o) == shape]
    ordered = list(dict.fromkeys([*same, *same_kind, *options]))
    return ordered[:n]
