"""Iter-RetGen (Shao et al., 2023): retrieval and generation in turns.

Round ``t`` retrieves with ``question + answer_{t-1}`` and answers from those passages;
``rounds`` defaults to 3. With greedy decoding the same passages give the same answer, so a
round that retrieves exactly the previous passages ends the loop early
(``stop_when_stable``).
"""

from __future__ import annotations

from typing import Any

from nyx.ensemble.pipelines.base import Pipeline
from nyx.ensemble.types import Answer

__all__ = ["IterRetGenPipeline"]


class IterRetGenPipeline(Pipeline):
    """``rounds`` of retrieve-then-generate; the next query is question + last answer."""


    def __init__(self, *args: Any, rounds: int = 3, stop_when_stable: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        self.rounds = rounds
        self.stop_when_stable = stop_when_stable

    def _run(self, question: str) -> Answer:
        answer = Answer(question, "")
        query, previous = question, None
        text, gen, docs = "", None, []
        for round_ in range(self.rounds):
            docs = self.retrieve(answer, query)
            ids = [d.id for d in docs]
            if self.stop_when_stable and ids == previous and gen is not None:
                answer.add_step("stable", round=round_)
                break
            text, gen = self.answer_docs(answer, question, docs, step=f"generate_{round_}")
            previous = ids
            query = f"{question} {text}".strip()
        assert gen is not None
        answer.metadata["rounds"] = sum(s.name.startswith("generate_") for s in answer.steps)
        return self.finish(answer, text, gen, docs)
