"""The statistics behind RQ3 (scaling with the number of systems) and RQ4 (preference).

Scaling and agreement work on predictions only (``{question id: answer text}`` per system),
so they are tested on crafted answers. Answers are compared after SQuAD normalisation; an
empty answer agrees with nothing (it carries no preference).

RQ4 per aggregator: how often its answer equals each system's (agreement), how often that
system is the only one it agrees with (sole agreement), and how often it took that system's
answer (``chosen_system``: for votes the first system of the winning group, so ties favour the
systems listed first). The map embeds every answer with nyx-lite's text tower
(all-MiniLM-L6-v2), projects them to 2-D with PCA and colours them by system.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nyx.answer_metrics import normalize_answer
from nyx.benchmarks.rq.config import PreferenceSpec
from nyx.benchmarks.rq.systems import SystemResult

logger = logging.getLogger(__name__)

__all__ = ["ScalingPoint", "agreement_rates", "answer_map", "chosen_shares", "minilm_embed",
           "pairwise_agreement", "pca_2d", "preference_stats", "scaling_curve",
           "sole_agreement_rates"]

Embedder = Callable[[list[str]], np.ndarray]

Predictions = Mapping[str, str]


@dataclass
class ScalingPoint:
    """The score of every combination of ``k`` systems, and its mean / min / max."""

    k: int
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def combinations(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.scores.values()))) if self.scores else math.nan

    @property
    def low(self) -> float:
        return min(self.scores.values(), default=math.nan)

    @property
    def high(self) -> float:
        return max(self.scores.values(), default=math.nan)

    def to_dict(self) -> dict[str, object]:
        return {"k": self.k, "mean": self.mean, "min": self.low, "max": self.high,
                "combinations": self.combinations, "scores": self.scores}


def scaling_curve(systems: Sequence[str], score: Callable[[tuple[str, ...]], float],
                  ks: Sequence[int] | None = None) -> list[ScalingPoint]:
    """For each ``k``, ``score`` of every combination of ``k`` of ``systems`` (all of them,
    ``C(n, k)``), keyed ``"a+b"`` in the systems' order."""
    if len(set(systems)) != len(systems):
        raise ValueError(f"system names must be unique: {list(systems)}")
    points = []
    for k in ks or range(1, len(systems) + 1):
        if not 1 <= k <= len(systems):
            raise ValueError(f"k must be in 1..{len(systems)}, got {k}")
        point = ScalingPoint(k)
        for combo in itertools.combinations(systems, k):
            point.scores["+".join(combo)] = float(score(combo))
        points.append(point)
    return points


def _same(a: str | None, b: str | None) -> bool:
    key = normalize_answer(a or "")
    return bool(key) and key == normalize_answer(b or "")


def agreement_rates(ensemble: Predictions, members: Mapping[str, Predictions]
                    ) -> dict[str, float]:
    """Share of questions on which each member's answer equals the ensemble's."""
    qids = list(ensemble)
    return {name: (sum(_same(ensemble[q], answers.get(q)) for q in qids) / len(qids)
                   if qids else math.nan)
            for name, answers in members.items()}


def sole_agreement_rates(ensemble: Predictions, members: Mapping[str, Predictions]
                         ) -> dict[str, float]:
    """Share of questions on which a member is the *only* one whose answer the ensemble gave."""
    qids = list(ensemble)
    counts = dict.fromkeys(members, 0)
    for q in qids:
        agreeing = [n for n, answers in members.items() if _same(ensemble[q], answers.get(q))]
        if len(agreeing) == 1:
            counts[agreeing[0]] += 1
    return {n: (c / len(qids) if qids else math.nan) for n, c in counts.items()}


def chosen_shares(chosen: Mapping[str, str | None], names: Sequence[str]) -> dict[str, float]:
    """Share of questions whose answer an aggregator took from each system (its
    ``chosen_system``: the vote's first member of the winning group, or Selection's pick)."""
    total = len(chosen)
    return {n: (sum(c == n for c in chosen.values()) / total if total else math.nan)
            for n in names}


def pairwise_agreement(members: Mapping[str, Predictions]) -> dict[str, dict[str, float]]:
    """Share of questions on which two members give the same answer (1 on the diagonal)."""
    names = list(members)
    out: dict[str, dict[str, float]] = {}
    for a in names:
        qids = list(members[a])
        out[a] = {b: (1.0 if a == b else
                      sum(_same(members[a][q], members[b].get(q)) for q in qids) / len(qids)
                      if qids else math.nan) for b in names}
    return out


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Project rows onto their two main principal components (``(n, 2)``)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        return np.zeros((0, 2))
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    out = x @ vt[:2].T
    return np.pad(out, ((0, 0), (0, 2 - out.shape[1]))) if out.shape[1] < 2 else out


def minilm_embed(texts: list[str]) -> np.ndarray:
    """nyx-lite's text vectors (its MiniLM text tower, L2-normalised)."""
    from nyx.benchmarks.peers import raw_minilm

    return np.asarray(raw_minilm().encode(texts, batch_size=64, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False))


def answer_map(results: Sequence[SystemResult], embed: Embedder) -> dict[str, Any]:
    """2-D PCA coordinates of every non-empty answer, labelled by system and question."""
    points = [(r.name, qid, a.text.strip()) for r in results for qid, a in r.answers.items()
              if a.text.strip()]
    if len(points) < 3:
        return {"points": [], "explained_variance": []}
    texts = sorted({t for _, _, t in points})
    vectors = embed(texts)
    index = {t: i for i, t in enumerate(texts)}
    rows = np.asarray([vectors[index[t]] for _, _, t in points])
    coords = pca_2d(rows)
    centered = rows - rows.mean(axis=0)
    variance = np.linalg.svd(centered, compute_uv=False) ** 2
    explained = (variance[:2] / variance.sum()).tolist() if variance.sum() > 0 else []
    return {"points": [{"system": s, "id": q, "text": t, "x": float(x), "y": float(y)}
                       for (s, q, t), (x, y) in zip(points, coords)],
            "explained_variance": explained}


def preference_stats(spec: PreferenceSpec, members: Sequence[SystemResult],
                     aggregated: Sequence[SystemResult],
                     embed: Embedder | None = None) -> dict[str, Any]:
    """Agreement tables per aggregator, pairwise agreement of systems, and the answer map."""
    predictions = {m.name: m.predictions() for m in members}
    names = list(predictions)
    out: dict[str, Any] = {"aggregators": {}, "pairwise": pairwise_agreement(predictions)}
    for agg in aggregated:
        chosen = {qid: a.metadata.get("chosen_system") for qid, a in agg.answers.items()}
        has_choice = any(c is not None for c in chosen.values())
        out["aggregators"][agg.name] = {
            "agreement": agreement_rates(agg.predictions(), predictions),
            "sole_agreement": sole_agreement_rates(agg.predictions(), predictions),
            "chosen": chosen_shares(chosen, names) if has_choice else None,
        }
    if spec.embed:
        mapped = [*members, *[a for a in aggregated if a.name == spec.map_aggregator]]
        try:
            out["map"] = answer_map(mapped, embed or minilm_embed)
        except (ImportError, OSError) as error:  # the text tower is an optional install
            logger.warning("answer map skipped: %s", error)
            out["map"] = {"points": [], "error": str(error)}
    return out
