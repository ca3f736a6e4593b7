"""``Ensemble``: several systems answer; an aggregator makes one answer of theirs.

Systems run concurrently in a thread pool when every one of them can (HTTP generators), and
one after another otherwise (a local CPU model gains nothing from threads). A batch of
questions goes to each system whole (:meth:`System.run_batch`) before any is aggregated. An
ensemble is a system itself, so ensembles nest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, TypeVar

from nyx.ensemble.aggregation.aggregators import Aggregator, MajorityVote
from nyx.ensemble.pipelines.base import System
from nyx.ensemble.types import Answer

logger = logging.getLogger(__name__)

__all__ = ["Ensemble"]

T = TypeVar("T")


class Ensemble(System):
    """>>> Ensemble([sequential, iter_retgen, flare], aggregator=EntropyVote(tau=0.5))"""

    component_fields: ClassVar[tuple[str, ...]] = ("systems", "aggregator")
    volatile_fields: ClassVar[tuple[str, ...]] = ("name", "max_workers")

    def __init__(self, systems: Sequence[System], aggregator: Aggregator | None = None, *,
                 name: str = "ensemble", max_workers: int = 8) -> None:
        if not systems:
            raise ValueError("an ensemble needs at least one system")
        names = [s.name for s in systems]
        if len(set(names)) != len(names):
            raise ValueError(f"system names must be unique (they label the answers): {names}; "
                             "give each pipeline a name=")
        self.systems = list(systems)
        self.aggregator = aggregator or MajorityVote()
        self.name = name
        self.max_workers = max_workers

    @property
    def concurrent(self) -> bool:
        gen = getattr(self.aggregator, "generator", None)
        return all(s.concurrent for s in self.systems) and (
            gen is None or gen.supports_concurrency)

    def _each_system(self, call: Callable[[System], T]) -> list[T]:
        """``call`` on every system, in threads where all of them can run at once."""
        if all(s.concurrent for s in self.systems) and len(self.systems) > 1:
            with ThreadPoolExecutor(min(self.max_workers, len(self.systems))) as pool:
                return list(pool.map(call, self.systems))
        return [call(s) for s in self.systems]

    def _run(self, question: str) -> Answer:
        return self._combine(question, self._each_system(lambda s: s.run(question)))

    def _run_batch(self, questions: list[str]) -> list[Answer]:
        """Each system answers the whole batch (stage by stage where it can); then each
        question's answers are aggregated exactly as :meth:`run` aggregates them."""
        by_system = self._each_system(lambda s: s.run_batch(questions, len(questions)))
        return [self._combine(q, [answers[n] for answers in by_system])
                for n, q in enumerate(questions)]

    def _combine(self, question: str, members: list[Answer]) -> Answer:
        result = self.aggregator.aggregate(question, members)
        for m in members:
            result.add_step("system", name=m.system, answer=m.text,
                            mean_entropy=m.mean_entropy, mean_nll=m.mean_nll,
                            seconds=m.metadata.get("seconds"))
        result.metadata["members"] = {m.system: m.text for m in members}
        return result

    def __repr__(self) -> str:
        return (f"Ensemble({[s.name for s in self.systems]}, "
                f"aggregator={type(self.aggregator).__name__})")
