"""Sequential RAG: retrieve once, then generate; and the closed-book baseline.

Both run a batch stage by stage, as FlashRAG does: one retrieval call for all its questions,
then one generation call for all its prompts (which the generator batches).
"""

from __future__ import annotations

from nyx.ensemble.pipelines.base import Pipeline
from nyx.ensemble.types import Answer

__all__ = ["ClosedBookPipeline", "SequentialPipeline"]


class SequentialPipeline(Pipeline):
    """Retrieve ``k`` passages for the question and answer from them."""

    def _run(self, question: str) -> Answer:
        answer = Answer(question, "")
        docs = self.retrieve(answer, question)
        text, gen = self.answer_docs(answer, question, docs)
        return self.finish(answer, text, gen, docs)

    def _run_batch(self, questions: list[str]) -> list[Answer]:
        answers = [Answer(q, "") for q in questions]
        docs = self.retrieve_many(answers, questions)
        return [self.finish(answer, text, gen, found) for answer, found, (text, gen)
                in zip(answers, docs, self.answer_many(answers, questions, docs))]


class ClosedBookPipeline(Pipeline):
    """No retrieval: the generator answers from its parameters (a baseline)."""

    def _run(self, question: str) -> Answer:
        answer = Answer(question, "")
        text, gen = self.answer_docs(answer, question, [])
        return self.finish(answer, text, gen, [])

    def _run_batch(self, questions: list[str]) -> list[Answer]:
        answers = [Answer(q, "") for q in questions]
        return [self.finish(answer, text, gen, []) for answer, (text, gen)
                in zip(answers, self.answer_many(answers, questions, [[]] * len(questions)))]
