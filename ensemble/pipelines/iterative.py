"""Iter-RetGen (Shao et al., 2023): retrieval and generation in turns.

Round ``t`` retrieves with ``question + answer_{t-1}`` and answers from those passages;
``rounds`` defaults to 3. With greedy decoding the same passages give the same answer, so a
round that retrieves exactly the previous passages ends the loop early
(``stop_when_stable``). A batch runs round by round: one retrieval call for every question
still going, then one generation call for their prompts.
"""

from __future__ import annotations

from typing import Any

from nyx.ensemble.pipelines.base import Pipeline
from nyx.ensemble.types import Answer, Generation
from nyx.results import SearchResult

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
        return self._run_batch([question])[0]

    def _run_batch(self, questions: list[str]) -> list[Answer]:
        answers = [Answer(q, "") for q in questions]
        queries = list(questions)
        previous: list[list[str] | None] = [None] * len(questions)
        texts = [""] * len(questions)
        gens: list[Generation | None] = [None] * len(questions)
        docs: list[list[SearchResult]] = [[] for _ in questions]
        going = list(range(len(questions)))
        for round_ in range(self.rounds):
            if not going:
                break
            found = self.retrieve_many([answers[i] for i in going], [queries[i] for i in going])
            generate = []
            for i, hits in zip(going, found):
                docs[i] = hits
                if self.stop_when_stable and [d.id for d in hits] == previous[i] \
                        and gens[i] is not None:
                    answers[i].add_step("stable", round=round_)
                else:
                    generate.append(i)
            made = self.answer_many([answers[i] for i in generate],
                                    [questions[i] for i in generate],
                                    [docs[i] for i in generate],
                                    step=f"generate_{round_}") if generate else []
            for i, (text, gen) in zip(generate, made):
                texts[i], gens[i] = text, gen
                previous[i] = [d.id for d in docs[i]]
                queries[i] = f"{questions[i]} {text}".strip()
            going = generate
        out = []
        for answer, text, gen, found in zip(answers, texts, gens, docs):
            assert gen is not None
            answer.metadata["rounds"] = sum(s.name.startswith("generate_")
                                            for s in answer.steps)
            out.append(self.finish(answer, text, gen, found))
        return out
