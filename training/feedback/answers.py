"""Judging a generator's answer against the gold answers (SQuAD EM / token F1 from
:mod:`nyx.answer_metrics`, the same functions the benchmarks report)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nyx.answer_metrics import exact_match, token_f1


@dataclass
class Judgement:
    em: float
    f1: float
    positive: bool


def judge(prediction: str, golds: Sequence[str], metric: str = "f1",
          threshold: float = 0.5) -> Judgement:
    """Best EM and F1 over the gold answers; positive when ``metric`` reaches ``threshold``."""
    if metric not in ("em", "f1"):
        raise ValueError(f"metric must be 'em' or 'f1', got {metric!r}")
    if not golds:
        raise ValueError("no gold answers to judge against")
    em = exact_match(prediction, list(golds))
    f1 = token_f1(prediction, list(golds))
    score = em if metric == "em" else f1
    return Judgement(em, f1, bool(prediction.strip()) and score >= threshold)
