"""Sequential RAG: retrieve once, then generate; and the closed-book baseline."""

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


class ClosedBookPipeline(Pipeline):
    """No retrieval: the generator answers from its parameters (a baseline)."""

    def _run(self, question: str) -> Answer:
        answer = Answer(question, "")
        text, gen = self.answer_docs(answer, question, [])
        return self.finish(answer, text, gen, [])
