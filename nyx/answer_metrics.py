"""Answer metrics for extractive / generative QA: SQuAD exact match and token F1.

``normalize_answer`` follows the official SQuAD v1.1 evaluation script: lowercase, drop ASCII
punctuation, drop the articles *a*, *an*, *the* (as whole words), collapse whitespace. Each
metric takes the maximum over the gold answers, as the SQuAD script does.

Edge cases, kept as in the official script: ``token_f1`` is 0 when the prediction and gold share
no token - including when both normalize to the empty string - while ``exact_match`` of two
empty normalized strings is 1. An empty list of gold answers is an error: it is a data problem.

All scores are fractions in ``[0, 1]`` (multiply by 100 for the numbers papers print).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

__all__ = ["answer_contains", "evaluate_answers", "exact_match", "normalize_answer", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalization: lower, strip punctuation, strip articles, fix whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _golds(gold_answers: Sequence[str] | str) -> list[str]:
    golds = [gold_answers] if isinstance(gold_answers, str) else list(gold_answers)
    if not golds:
        raise ValueError(
            "no gold answers given; a question without gold answers cannot be scored - "
            "drop it from the evaluation set"
        )
    return golds


def _exact(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def _f1(prediction: str, gold: str) -> float:
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(gold).split()
    common = Counter(predicted) & Counter(expected)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(expected)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold_answers: Sequence[str] | str) -> float:
    """1.0 if the normalized prediction equals any normalized gold answer, else 0.0."""
    return max(_exact(prediction, gold) for gold in _golds(gold_answers))


def token_f1(prediction: str, gold_answers: Sequence[str] | str) -> float:
    """Bag-of-tokens F1 between the normalized prediction and the best gold answer."""
    return max(_f1(prediction, gold) for gold in _golds(gold_answers))


def answer_contains(text: str, gold_answers: Sequence[str] | str) -> float:
    """1.0 if any normalized gold answer occurs in the normalized ``text`` as whole tokens.

    Used for long generations and for "does a retrieved passage contain the answer"; matching
    whole tokens keeps the gold ``"1"`` from matching inside ``"1990"``. Gold answers that
    normalize to nothing (``"the"``) never match.
    """
    haystack = f" {normalize_answer(text)} "
    for gold in _golds(gold_answers):
        needle = normalize_answer(gold)
        if needle and f" {needle} " in haystack:
            return 1.0
    return 0.0


def evaluate_answers(
    predictions: Mapping[str, str], answers: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """Average exact match, token F1 and containment over the questions in ``answers``.

    A question with no prediction scores 0 on every metric (it is not skipped); predictions for
    questions absent from ``answers`` are ignored.

    Returns:
        ``{"exact_match": ..., "f1": ..., "contains": ..., "num_questions": n}``.
    """
    if not answers:
        raise ValueError("evaluate_answers got no gold answers; pass {question id: [answers]}")
    totals = {"exact_match": 0.0, "f1": 0.0, "contains": 0.0}
    for qid, golds in answers.items():
        prediction = predictions.get(qid)
        if prediction is None:
            continue
        totals["exact_match"] += exact_match(prediction, golds)
        totals["f1"] += token_f1(prediction, golds)
        totals["contains"] += answer_contains(prediction, golds)
    result = {name: value / len(answers) for name, value in totals.items()}
    result["num_questions"] = len(answers)
    return result
