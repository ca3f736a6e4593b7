"""Running systems over a task's questions, and aggregating their stored answers.

Every single system runs once per question, a batch of questions at a time (stage by stage
where it can, as FlashRAG runs a split); its answers are kept. Aggregators then combine
those stored answers through :class:`ensemble.Ensemble` over :class:`Replay` systems, so an
ensemble of any subset of systems (RQ3 scores every subset) costs no new pipeline run, and
the aggregation is exactly the one ``Ensemble.run`` performs. Generator and retriever calls go
through the on-disk cache, so a killed run that is started again skips the finished work.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from tqdm.auto import tqdm

from nyx.answer_metrics import answer_contains, exact_match, token_f1
from nyx.benchmarks.bootstrap import paired_bootstrap
from nyx.benchmarks.rq.data import TaskData
from nyx.ensemble.aggregation import EntropyVote, LearnedSelector
from nyx.ensemble.cache import DiskCache
from nyx.ensemble.ensemble import Ensemble
from nyx.ensemble.errors import GeneratorUnavailableError
from nyx.ensemble.pipelines.base import System
from nyx.ensemble.types import Answer

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_BATCH_SIZE", "FITTED_AGGREGATORS", "METRICS", "HeldOutBest", "Replay",
           "SystemResult", "aggregate", "cross_fitted", "held_out_best", "paired_bootstrap",
           "run_system"]

METRICS = ("exact_match", "f1", "contains", "gold_passage")
#: questions per :meth:`System.run_batch` call: enough to fill the generator's batches, few
#: enough that the progress bar moves and a failed batch costs little to redo
DEFAULT_BATCH_SIZE = 32


@dataclass
class SystemResult:
    """One system's (or aggregator's) answers to a task and their scores."""

    name: str
    role: str  # single | baseline | aggregator | combined
    answers: dict[str, Answer] = field(default_factory=dict)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    wall_s: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0

    def predictions(self) -> dict[str, str]:
        return {qid: a.text for qid, a in self.answers.items()}

    def per_question(self, metric: str) -> list[float]:
        return [self.scores[qid][metric] for qid in self.answers]

    def mean(self, metric: str) -> float:
        values = self.per_question(metric)
        return float(np.mean(values)) if values else float("nan")

    def summary(self) -> dict[str, Any]:
        return {"system": self.name, "role": self.role,
                **{m: self.mean(m) for m in METRICS}, "questions": len(self.answers),
                "wall_s": self.wall_s, "errors": len(self.errors),
                "cache_hits": self.cache_hits, "cache_misses": self.cache_misses}


def question_scores(answer: Answer, golds: Sequence[str], relevant: dict[str, int]
                    ) -> dict[str, float]:
    return {"exact_match": exact_match(answer.text, golds), "f1": token_f1(answer.text, golds),
            "contains": answer_contains(answer.text, golds),
            "gold_passage": float(any(d.id in relevant for d in answer.documents))}


def _score(result: SystemResult, data: TaskData) -> SystemResult:
    result.scores = {qid: question_scores(a, data.answers[qid], data.qrels.get(qid, {}))
                     for qid, a in result.answers.items()}
    return result


def run_system(system: System, data: TaskData, role: str = "single",
               cache: DiskCache | None = None, progress: bool = True,
               batch_size: int = DEFAULT_BATCH_SIZE) -> SystemResult:
    """Answer every question of ``data``, ``batch_size`` at a time through
    :meth:`~nyx.ensemble.pipelines.base.System.run_batch` (stage by stage where the system can:
    one retrieval call, then one generation call per batch; ``batch_size=1`` is one question at
    a time). The answers are those of ``system.run`` (the same texts and documents; with a local
    model, log-probabilities equal up to float32 rounding). A question that fails scores 0 and is
    recorded: a batch that fails is answered again one question at a time, so only its failing
    questions are lost (an unreachable generator endpoint stops the run instead)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    result = SystemResult(system.name, role)
    hits, misses = (cache.hits, cache.misses) if cache is not None else (0, 0)
    items = list(data.questions.items())
    start = time.perf_counter()
    with tqdm(total=len(items), desc=f"{data.name}/{system.name}", disable=not progress,
              leave=False) as bar:
        for first in range(0, len(items), batch_size):
            chunk = items[first:first + batch_size]
            for (qid, _), answer in zip(chunk, _answer_batch(system, chunk, result.errors)):
                result.answers[qid] = answer
            bar.update(len(chunk))
    result.wall_s = time.perf_counter() - start
    if cache is not None:
        result.cache_hits, result.cache_misses = cache.hits - hits, cache.misses - misses
    logger.info("%s/%s: F1 %.3f EM %.3f in %.0f s", data.name, system.name,
                _score(result, data).mean("f1"), result.mean("exact_match"), result.wall_s)
    return result


def _answer_batch(system: System, chunk: list[tuple[str, str]],
                  errors: dict[str, str]) -> list[Answer]:
    """The answers to ``chunk``'s ``(qid, question)`` pairs; failures go into ``errors``."""
    try:
        return system.run_batch([question for _, question in chunk], len(chunk))
    except (GeneratorUnavailableError, ImportError):
        raise  # no endpoint, or an optional model not installed: nothing would run
    except Exception as error:  # one bad question must not lose the others
        if len(chunk) > 1:
            logger.warning("%s failed on a batch of %d questions (%s); answering them one by "
                           "one", system.name, len(chunk), error)
            return [a for item in chunk for a in _answer_batch(system, [item], errors)]
        qid, question = chunk[0]
        logger.warning("%s failed on %s: %s", system.name, qid, error)
        errors[qid] = f"{type(error).__name__}: {error}"
        return [Answer(question, "", system=system.name)]


class Replay(System):
    """A system that gives the answers another system already gave (by question text)."""

    config_type: ClassVar[str] = "replay"
    config_fields = ()  # built from another system's answers, never from a config

    def __init__(self, result: SystemResult, data: TaskData) -> None:
        self.name = result.name
        self._by_question = {data.questions[qid]: a for qid, a in result.answers.items()}

    @property
    def concurrent(self) -> bool:
        return False

    def _run(self, question: str) -> Answer:
        return copy.deepcopy(self._by_question[question])


def aggregate(name: str, aggregator: Any, members: Sequence[SystemResult], data: TaskData,
              cache: DiskCache | None = None, progress: bool = False) -> SystemResult:
    """Score ``aggregator`` over the stored answers of ``members`` (an Ensemble of replays)."""
    ensemble = Ensemble([Replay(m, data) for m in members], aggregator, name=name)
    result = run_system(ensemble, data, "aggregator", cache, progress)
    for answer in result.answers.values():
        answer.metadata.pop("seconds", None)  # replayed members took no time here
    return result


@dataclass
class HeldOutBest:
    """The best single system's per-question scores, each chosen without seeing the question.

    ``scores[metric]`` follows the question order of the systems' answers; ``chosen`` names
    the system picked on the first half of ``halves`` (scored on the second) and the one picked
    on the second half (scored on the first).
    """

    scores: dict[str, list[float]]
    chosen: tuple[str, str]
    halves: tuple[list[str], list[str]]


def _best(singles: Sequence[SystemResult], qids: Sequence[str]) -> SystemResult:
    def key(r: SystemResult) -> tuple[float, float]:
        return (float(np.mean([r.scores[q]["f1"] for q in qids])),
                float(np.mean([r.scores[q]["exact_match"] for q in qids])))
    return max(singles, key=key)  # ties: the first listed


def held_out_best(singles: Sequence[SystemResult], seed: int) -> HeldOutBest:
    """"The best single system" as a reference for gains, chosen by 2-fold cross-fitting.

    The questions are split into two halves at random (``seed``); each half is scored with the
    system that has the best F1 (then EM) on the *other* half. Picking the best on the same
    questions that the interval is computed on would favour the reference by its luck on them.
    """
    if not singles:
        raise ValueError("no single systems to choose the best from")
    qids = list(singles[0].answers)
    order = np.random.default_rng(seed).permutation(len(qids))
    halves = [[qids[i] for i in sorted(order[: len(qids) // 2])],
              [qids[i] for i in sorted(order[len(qids) // 2:])]]
    if not halves[0]:  # one question: nothing to hold out
        halves[0] = halves[1]
    first, second = _best(singles, halves[0]), _best(singles, halves[1])
    reference = {q: second for q in halves[0]} | {q: first for q in halves[1]}
    scores = {m: [reference[q].scores[q][m] for q in qids] for m in METRICS}
    return HeldOutBest(scores, (first.name, second.name), (halves[0], halves[1]))



#: aggregators fitted on the members' answers, reported for every task with two members or
#: more (see :func:`cross_fitted`): name -> how to fit one from answer sets and their F1s
FITTED_AGGREGATORS: dict[str, Callable[[list[list[Answer]], list[list[float]]], Any]] = {
    "learned_selector (cross-fitted)": lambda answers, f1: LearnedSelector.fit(answers, f1),
    "entropy_vote (tau cross-fitted)": lambda answers, f1: EntropyVote.fit(answers, f1),
}


#: the same aggregators fitted on every question of another task of the RQ (another domain)
#: with the same systems, and scored on every question of this one (see :func:`transferred`);
#: ``{}`` is the task they were fitted on
TRANSFERRED_AGGREGATORS: dict[str, Callable[[list[list[Answer]], list[list[float]]], Any]] = {
    "learned_selector (fitted on {})": lambda answers, f1: LearnedSelector.fit(answers, f1),
    "entropy_vote (tau fitted on {})": lambda answers, f1: EntropyVote.fit(answers, f1),
}


def transferred(name: str, fit: Callable[[list[list[Answer]], list[list[float]]], Any],
                train: Sequence[SystemResult], members: Sequence[SystemResult],
                data: TaskData) -> tuple[SystemResult, Any]:
    """An aggregator fitted on all the answers of ``train`` (the same systems on another
    task) and their F1, and scored on every question of ``data``: none of these questions
    was seen in fitting. Returns the result and the fitted aggregator (to save)."""
    start = time.perf_counter()
    questions = list(train[0].answers)
    aggregator = fit([[m.answers[q] for m in train] for q in questions],
                     [[m.scores[q]["f1"] for m in train] for q in questions])
    result = SystemResult(name, "aggregator")
    result.answers = {qid: aggregator.aggregate(data.questions[qid],
                                                [m.answers[qid] for m in members])
                      for qid in members[0].answers}
    result.wall_s = time.perf_counter() - start
    return _score(result, data), aggregator


def cross_fitted(name: str, fit: Callable[[list[list[Answer]], list[list[float]]], Any],
                 members: Sequence[SystemResult], data: TaskData,
                 halves: tuple[list[str], list[str]]) -> SystemResult:
    """An aggregator fitted on the members' answers and their F1, scored by 2-fold
    cross-fitting: each half of the questions is answered by the aggregator fitted on the
    other half (the halves of :func:`held_out_best`), so no question is answered by a model
    that saw its gold answer."""
    start = time.perf_counter()
    result = SystemResult(name, "aggregator")
    answered: dict[str, Answer] = {}
    for train, test in ((halves[1], halves[0]), (halves[0], halves[1])):
        aggregator = fit([[m.answers[q] for m in members] for q in train],
                         [[m.scores[q]["f1"] for m in members] for q in train])
        for qid in test:
            answered[qid] = aggregator.aggregate(data.questions[qid],
                                                 [m.answers[qid] for m in members])
    result.answers = {qid: answered[qid] for qid in members[0].answers}
    result.wall_s = time.perf_counter() - start
    return _score(result, data)
