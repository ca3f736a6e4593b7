"""The pipeline interface, ``run(question) -> Answer``, and the steps pipelines share."""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from nyx.ensemble.config import Configurable
from nyx.ensemble.generators.base import Generator
from nyx.ensemble.prompts import extract_answer, qa_prompt
from nyx.ensemble.retrievers.base import RetrieverModule
from nyx.ensemble.types import Answer, Generation, Message
from nyx.results import SearchResult

logger = logging.getLogger(__name__)

__all__ = ["Pipeline", "System", "softmax", "yes_options"]


class System(Configurable, ABC):
    """Anything that answers questions: a pipeline or an ensemble of them."""

    name: str

    @property
    @abstractmethod
    def concurrent(self) -> bool:
        """Whether several runs may go at once in threads (HTTP backends)."""

    @abstractmethod
    def _run(self, question: str) -> Answer:
        """Answer one question."""

    def run(self, question: str) -> Answer:
        """Answer ``question``; the Answer records documents, steps and token statistics."""
        _check_question(question)
        start = time.perf_counter()
        answer = self._run(question)
        answer.system = self.name
        answer.metadata["seconds"] = time.perf_counter() - start
        return answer

    def run_batch(self, questions: Sequence[str], batch_size: int = 32) -> list[Answer]:
        """Answer ``questions`` in order, ``batch_size`` at a time; each Answer is the one
        :meth:`run` gives for its question.

        Every question is checked before any runs. Systems that can run a batch stage by stage
        (retrieval for all its questions, then generation for all its prompts) do so; others
        answer one question after another. ``metadata["seconds"]`` is a question's own time
        where it ran alone, and its share of its batch's time (the batch's seconds divided by
        its size) where the batch ran stage by stage.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        questions = list(questions)
        for n, question in enumerate(questions):
            _check_question(question, n)
        answers: list[Answer] = []
        for first in range(0, len(questions), batch_size):
            chunk = questions[first:first + batch_size]
            start = time.perf_counter()
            done = self._run_batch(chunk)
            share = (time.perf_counter() - start) / len(chunk)
            for answer in done:
                answer.system = self.name
                answer.metadata.setdefault("seconds", share)  # run() timed it alone already
            answers += done
        return answers

    def _run_batch(self, questions: list[str]) -> list[Answer]:
        """Answer checked questions, one answer each; this default runs them one by one."""
        return [self.run(q) for q in questions]


class Pipeline(System):
    """Retrieve-and-generate pipelines share these settings and helpers.

    ``k`` passages of at most ``max_words`` words each go into prompts of ``style``
    ``"completion"`` (few-shot text; right for small local models) or ``"chat"``; answers are
    greedy, at most ``max_new_tokens`` tokens, stopped at a newline and then shortened by
    :func:`~nyx.ensemble.prompts.extract_answer`.
    """

    component_fields: ClassVar[tuple[str, ...]] = ("generator", "retriever")
    volatile_fields: ClassVar[tuple[str, ...]] = ("name",)

    def __init__(self, generator: Generator, retriever: RetrieverModule | None = None, *,
                 name: str | None = None, k: int = 3, max_words: int = 120,
                 style: str = "completion", few_shot: bool = True,
                 max_new_tokens: int = 16) -> None:
        if style not in ("completion", "chat"):
            raise ValueError(f"unknown prompt style {style!r}: use 'completion' or 'chat'")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.generator = generator
        self.retriever = retriever
        self.name = name or self.config_type
        self.k = k
        self.max_words = max_words
        self.style = style
        self.few_shot = few_shot
        self.max_new_tokens = max_new_tokens

    @property
    def concurrent(self) -> bool:
        return self.generator.supports_concurrency

    # -- shared steps -------------------------------------------------------------------------

    def retrieve(self, answer: Answer, query: str, k: int | None = None) -> list[SearchResult]:
        """Retrieve for ``query`` and record the step."""
        return self.retrieve_many([answer], [query], k)[0]

    def retrieve_many(self, answers: Sequence[Answer], queries: Sequence[str],
                      k: int | None = None) -> list[list[SearchResult]]:
        """Retrieve for each query in one batched call; record the step in its answer."""
        if self.retriever is None:
            raise ValueError(f"pipeline {self.name!r} needs a retriever; give retriever=...")
        found = self.retriever.retrieve(list(queries), k or self.k)
        for answer, query, docs in zip(answers, queries, found, strict=True):
            answer.add_step("retrieve", query=query, ids=[d.id for d in docs],
                            scores=[d.score for d in docs])
        return found

    def prompt(self, question: str, docs: Sequence[SearchResult] = (), *,
               closed_book: bool = False, prefix: str = "") -> str | list[Message]:
        return qa_prompt(question, docs, style=self.style, few_shot=self.few_shot,
                         max_words=self.max_words, context="" if closed_book else None,
                         prefix=prefix)

    def generate(self, prompts: list[str | list[Message]], **overrides: Any) -> list[Generation]:
        params = {"max_new_tokens": self.max_new_tokens, "stop": ["\n"], **overrides}
        return self.generator.generate(prompts, **params)

    def answer_docs(self, answer: Answer, question: str, docs: Sequence[SearchResult],
                    step: str = "generate") -> tuple[str, Generation]:
        """Generate a short answer from ``docs`` and record the step."""
        return self.answer_many([answer], [question], [docs], step)[0]

    def answer_many(self, answers: Sequence[Answer], questions: Sequence[str],
                    docs: Sequence[Sequence[SearchResult]], step: str = "generate"
                    ) -> list[tuple[str, Generation]]:
        """Generate a short answer for each question from its documents in one batched call,
        and record the step in its answer."""
        prompts = [self.prompt(q, d, closed_book=not d) for q, d in zip(questions, docs,
                                                                          strict=True)]
        out = []
        for answer, found, gen in zip(answers, docs, self.generate(prompts), strict=True):
            text = extract_answer(gen.text)
            answer.add_step(step, doc_ids=[d.id for d in found], raw=gen.text, answer=text,
                            mean_entropy=gen.mean_entropy)
            out.append((text, gen))
        return out

    @staticmethod
    def finish(answer: Answer, text: str, gen: Generation,
               docs: Sequence[SearchResult]) -> Answer:
        """Fill the answer text, the generation it came from and the documents it used."""
        answer.text = text
        answer.raw_text = gen.text
        answer.token_logprobs = list(gen.token_logprobs)
        answer.token_entropies = list(gen.token_entropies)
        answer.documents = list(docs)
        return answer

    def yes_probability(self, prompts: list[str | list[Message]]) -> list[float]:
        """P(yes) / (P(yes) + P(no)) for yes/no questions, case-insensitively."""
        options = yes_options(self.style)
        scores = self.generator.option_logprobs(prompts, options)
        out = []
        for s in scores:
            yes = sum(math.exp(s[o]) for o in options if o.strip().lower() == "yes")
            no = sum(math.exp(s[o]) for o in options if o.strip().lower() == "no")
            out.append(yes / (yes + no) if yes + no > 0 else 0.5)
        return out

    def judge_prompt(self, body: str, question: str) -> str | list[Message]:
        """A yes/no question about ``body``; completions end in ``Answer (yes or no):``."""
        text = f"{body}\n\n{question}"
        if self.style == "chat":
            return [{"role": "user", "content": f"{text} Answer yes or no."}]
        return f"{text}\nAnswer (yes or no):"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, generator={self.generator!r})"


def _check_question(question: object, index: int | None = None) -> None:
    if not isinstance(question, str) or not question.strip():
        where = "" if index is None else f" (question {index}: {question!r})"
        raise ValueError(f"the question must be a non-empty string{where}")


def yes_options(style: str) -> list[str]:
    words = ["yes", "no", "Yes", "No"]
    return [f" {w}" for w in words] if style == "completion" else words


def softmax(scores: Sequence[float], temperature: float = 1.0) -> list[float]:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp((s - top) / temperature) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]
