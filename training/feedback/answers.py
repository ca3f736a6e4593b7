"""SQuAD answer scoring: exact match and token F1 after SQuAD v1.1 normalisation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from nyx.ensemble.prompts import normalize_answer


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """The SQuAD token-overlap F1 (0 when either side normalises to nothing)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


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
    em = max(exact_match(prediction, g) for g in golds)
    f1 = max(token_f1(prediction, g) for g in golds)
    score = em if metric == "em" else f1
    return Judgement(em, f1, bool(prediction.strip()) and score >= threshold)
