"""A learned answer selector: picks the member answer a small logistic model rates most likely
to be right, from features every member's answer has.

Features of one answer among the members' answers to a question (:data:`FEATURES`):
``mean_logprob`` and ``mean_entropy`` of its tokens (0 where the generator gave none, and then
``no_scores`` is 1), ``agreement`` (the share of members whose normalised answer is the same),
``in_passages`` (its normalised text occurs in a passage it was given), ``top_score`` (the best
retrieval score among its passages), ``length`` (log of 1 + its words), ``empty``;
``soft_agreement`` (its mean token F1 with the other members' answers: "in 1855" half agrees
with "1855"), ``support`` (the share of all the passages any member read that contain it),
``question_overlap`` (the share of its words that are the question's: an answer that echoes
the question is seldom right), ``min_logprob`` and ``first_logprob`` (its least likely and its
first token), ``in_top_passage`` (it occurs in the first passage it was given),
``has_digit``; and one indicator per member system (the member's identity: some members are
right more often).
The second group (version 2) was chosen on the 1,000 SQuAD-dev questions of
``RQ1-domains.yaml`` (cross-fitted gain over the best single member +1.99 F1 with version 1's
features, +2.92 with these; in-sample for that choice, so SQuADShifts Amazon and New-Wiki are
its held-out test).

The model is fitted by :meth:`LearnedSelector.fit` (L2-regularised logistic regression, Newton's
method, on standardised features) with each answer's SQuAD F1 as a soft target, on questions
other than those it is used on. It is plain data (:meth:`LearnedSelector.to_dict`: feature
names, systems, means, scales, weights): it is saved as JSON beside a config, or inline in it,
never pickled, and NumPy alone applies it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nyx.answer_metrics import normalize_answer, token_f1
from nyx.ensemble.aggregation.aggregators import Aggregator
from nyx.ensemble.types import Answer

__all__ = ["DEFAULT_L2", "FEATURES", "LearnedSelector", "answer_features", "fit_logistic"]

FEATURES: tuple[str, ...] = ("mean_logprob", "mean_entropy", "no_scores", "agreement",
                             "in_passages", "top_score", "length", "empty", "soft_agreement",
                             "support", "question_overlap", "min_logprob", "first_logprob",
                             "in_top_passage", "has_digit")
MODEL_VERSION = 2
#: the L2 penalty :meth:`LearnedSelector.fit` uses by default (on standardised features; 10
#: against 1 on the SQuAD-dev choice above: +2.92 against +2.63 F1)
DEFAULT_L2 = 10.0


def answer_features(answers: Sequence[Answer]) -> np.ndarray:
    """The :data:`FEATURES` of each of one question's member answers, shape (n, len(FEATURES))."""
    norms = [normalize_answer(a.text) for a in answers]
    question = set(normalize_answer(answers[0].question).split()) if answers else set()
    # every passage any member read, once each (by id), normalised once
    passages = {d.id: normalize_answer(d.text) for a in answers for d in a.documents}
    rows = []
    for i, (answer, norm) in enumerate(zip(answers, norms)):
        nll, entropy = answer.mean_nll, answer.mean_entropy
        agreement = sum(1 for other in norms if other and other == norm) / len(answers) \
            if norm else 0.0
        in_passages = bool(norm) and any(norm in passages[d.id] for d in answer.documents)
        top = max((d.score for d in answer.documents), default=0.0)
        others = [_overlap(norm, other) for j, other in enumerate(norms) if j != i]
        words = norm.split()
        first = answer.documents[0] if answer.documents else None  # its retriever's best
        logprobs = answer.token_logprobs
        rows.append([-nll if nll is not None else 0.0, entropy or 0.0, float(nll is None),
                     agreement, float(in_passages), float(top),
                     math.log1p(len(words)), float(not norm),
                     float(np.mean(others)) if others else 0.0,
                     sum(1 for text in passages.values() if norm and norm in text)
                     / max(1, len(passages)),
                     sum(1 for w in words if w in question) / len(words) if words else 0.0,
                     min(logprobs) if logprobs else 0.0, logprobs[0] if logprobs else 0.0,
                     float(bool(norm) and first is not None and norm in passages[first.id]),
                     float(any(c.isdigit() for c in norm))])
    return np.asarray(rows, dtype=np.float64).reshape(len(answers), len(FEATURES))


def _overlap(a: str, b: str) -> float:
    """Token F1 of two normalised answers (0 when either is empty)."""
    return token_f1(a, b) if a and b else 0.0


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0,
                 iterations: int = 100) -> np.ndarray:
    """Weights (last: the bias, not penalised) of a logistic regression of ``y`` in [0, 1]
    (soft targets allowed) on ``x``, with an L2 penalty ``l2``, by Newton's method."""
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"x must be (n, d) with n = len(y); got {x.shape} and {len(y)}")
    xb = np.hstack([x, np.ones((len(x), 1))])
    penalty = np.full(xb.shape[1], float(l2))
    penalty[-1] = 0.0
    w = np.zeros(xb.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        gradient = xb.T @ (p - y) + penalty * w
        hessian = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty) + 1e-9 * np.eye(
            xb.shape[1])
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


class LearnedSelector(Aggregator):
    """Picks the member answer with the highest predicted chance of being right.

    ``model`` is what :meth:`fit` returns as :meth:`to_dict` (or a JSON file of it). Ties go to
    the earliest member.
    """

    def __init__(self, model: Mapping[str, Any] | str | os.PathLike[str]) -> None:
        if isinstance(model, (str, os.PathLike)):
            model = json.loads(Path(model).read_text(encoding="utf-8"))
        model = dict(model)
        if model.get("version") != MODEL_VERSION or tuple(model.get("features", ())) != FEATURES:
            raise ValueError("this learned-selector model was written for other features "
                             f"(version {model.get('version')!r}); fit it again with "
                             "LearnedSelector.fit")
        self.model = model
        self._systems = list(model["systems"])
        self._mean = np.asarray(model["mean"], dtype=np.float64)
        self._scale = np.asarray(model["scale"], dtype=np.float64)
        self._weights = np.asarray(model["weights"], dtype=np.float64)
        width = len(FEATURES) + len(self._systems)
        if not (self._mean.shape == self._scale.shape == (width,)
                and self._weights.shape == (width + 1,)):
            raise ValueError(f"learned-selector model: expected {width} features and "
                             f"{width + 1} weights, got {self._weights.shape[0]} weights")

    @classmethod
    def fit(cls, answer_sets: Sequence[Sequence[Answer]], targets: Sequence[Sequence[float]],
            *, l2: float = DEFAULT_L2, trained_on: str = "") -> LearnedSelector:
        """Fit on the member answers of many questions (``answer_sets[q]``, members in one
        order) and each answer's target in [0, 1] (its F1 against the gold answers)."""
        if not answer_sets or len(answer_sets) != len(targets):
            raise ValueError("fit needs one target list per question, and some questions")
        systems = list(dict.fromkeys(a.system for answers in answer_sets for a in answers))
        x = np.vstack([_design(answers, systems) for answers in answer_sets])
        y = np.asarray([t for row in targets for t in row], dtype=np.float64)
        if len(y) != len(x):
            raise ValueError("each answer needs one target")
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale < 1e-12] = 1.0
        weights = fit_logistic((x - mean) / scale, y, l2)
        return cls({"version": MODEL_VERSION, "features": list(FEATURES), "systems": systems,
                    "mean": mean.tolist(), "scale": scale.tolist(),
                    "weights": weights.tolist(), "l2": l2, "trained_on": trained_on,
                    "questions": len(answer_sets)})

    def scores(self, answers: Sequence[Answer]) -> np.ndarray:
        """Each answer's predicted chance of being right."""
        x = (_design(answers, self._systems) - self._mean) / self._scale
        return 1.0 / (1.0 + np.exp(-np.clip(x @ self._weights[:-1] + self._weights[-1],
                                            -30, 30)))

    def aggregate(self, question: str, answers: Sequence[Answer]) -> Answer:
        if not answers:
            return Answer(question, "", metadata={"method": "learned_selector"})
        chances = self.scores(answers)
        chosen = answers[int(np.argmax(chances))]  # the first of equal maxima
        docs = {d.id: d for a in answers for d in a.documents}
        return Answer(question, chosen.text, chosen.raw_text, list(docs.values()),
                      token_logprobs=list(chosen.token_logprobs),
                      token_entropies=list(chosen.token_entropies),
                      confidence=float(chances.max()),
                      metadata={"method": "learned_selector", "chosen_system": chosen.system,
                                "chances": [round(float(c), 4) for c in chances]})

    def to_dict(self) -> dict[str, Any]:
        return dict(self.model)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as JSON (read back with ``LearnedSelector(path)``)."""
        from nyx.indexes.atomic import atomic_write_json

        target = Path(path)
        atomic_write_json(target, self.to_dict())
        return target


def _design(answers: Sequence[Answer], systems: list[str]) -> np.ndarray:
    """Features and member indicators of one question's answers."""
    identity = np.zeros((len(answers), len(systems)))
    for row, answer in enumerate(answers):
        if answer.system in systems:
            identity[row, systems.index(answer.system)] = 1.0
    return np.hstack([answer_features(answers), identity])
