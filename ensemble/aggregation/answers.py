"""Aggregating several systems' answers: votes (plain and entropy-weighted) and the math.

Answers are grouped by their SQuAD-normalised text (:func:`nyx.ensemble.prompts.normalize_answer`);
answers that normalise to nothing ("", "the") never win unless every answer is empty.

**Ties** are broken deterministically by the position of the group's first member in the input
order (the earlier system wins), so ensembles list their strongest system first.

**Entropy weighting**: answer ``i`` weighs ``exp(-H_i / tau)`` where ``H_i`` is its mean
next-token entropy (``measure="entropy"``) or mean negative log-likelihood
(``measure="nll"``), in nats. An answer without token statistics gets the mean ``H`` of the
others (weight 1 if none has any). Group weights are summed; the ensemble's confidence is the
winner's share of the total weight, and its own entropy is the Shannon entropy of the group
shares (0 = unanimous).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from nyx.answer_metrics import normalize_answer

__all__ = ["Vote", "answer_weights", "entropy_weighted_vote", "majority_vote", "weighted_vote"]

MEASURES = ("entropy", "nll")


@dataclass
class Vote:
    """The outcome of a vote: the winning answer text and index, and every group's weight."""

    answer: str
    index: int
    key: str
    groups: dict[str, float] = field(default_factory=dict)
    members: dict[str, list[int]] = field(default_factory=dict)

    @property
    def share(self) -> float:
        """The winner's share of the total weight (the ensemble's confidence)."""
        total = sum(self.groups.values())
        return self.groups.get(self.key, 0.0) / total if total > 0 else 0.0

    @property
    def entropy(self) -> float:
        """Shannon entropy (nats) of the group shares: 0 when all answers agree."""
        total = sum(self.groups.values())
        if total <= 0:
            return 0.0
        shares = [w / total for w in self.groups.values() if w > 0]
        return -sum(p * math.log(p) for p in shares)


def weighted_vote(answers: Sequence[str], weights: Sequence[float]) -> Vote:
    """The answer group with the largest summed weight; ties go to the earliest answer."""
    if not answers:
        raise ValueError("cannot vote over zero answers")
    if len(weights) != len(answers):
        raise ValueError(f"got {len(weights)} weights for {len(answers)} answers")
    keys = [normalize_answer(a) for a in answers]
    groups: dict[str, float] = {}
    members: dict[str, list[int]] = {}
    for i, (key, w) in enumerate(zip(keys, weights)):
        if w < 0 or not math.isfinite(w):
            raise ValueError(f"answer weights must be finite and >= 0, got {w} for answer {i}")
        groups[key] = groups.get(key, 0.0) + w
        members.setdefault(key, []).append(i)
    candidates = [k for k in groups if k] or list(groups)
    # dicts keep insertion order, i.e. the order of each group's first member
    best = max(candidates, key=lambda k: (groups[k], -members[k][0]))
    index = members[best][0]
    return Vote(answers[index], index, best, groups, members)


def majority_vote(answers: Sequence[str]) -> Vote:
    """One vote per answer."""
    return weighted_vote(answers, [1.0] * len(answers))


def answer_weights(uncertainties: Sequence[float | None], tau: float = 1.0) -> list[float]:
    """``exp(-H / tau)`` for each answer; a missing ``H`` gets the mean of the others."""
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    known = [h for h in uncertainties if h is not None and math.isfinite(h)]
    fill = sum(known) / len(known) if known else 0.0
    return [math.exp(-(h if h is not None and math.isfinite(h) else fill) / tau)
            for h in uncertainties]


def entropy_weighted_vote(answers: Sequence[str], uncertainties: Sequence[float | None],
                          tau: float = 1.0) -> Vote:
    """Vote where each answer weighs ``exp(-H/tau)`` (see the module docstring)."""
    return weighted_vote(answers, answer_weights(uncertainties, tau))
