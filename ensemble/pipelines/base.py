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
        if not isinstance(question, str) or not question.strip():
            raise ValueError("the question must be a non-empty string")
        start = time.perf_counter()
        answer = self._run(question)
        answer.system = self.name
        answer.metadata["seconds"] = time.perf_counter() - start
        return answer


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
        if self.retriever is None:
            raise ValueError(f"pipeline {self.name!r} needs a retriever; give retriever=...")
        docs = self.retriever.retrieve(query, k or self.k)
        answer.add_step("retrieve", query=query, ids=[d.id for d in docs],
                        scores=[d.score for d in docs])
        return docs

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
        gen = self.generate([self.prompt(question, docs, closed_book=not docs)])[0]
        text = extract_answer(gen.text)
        answer.add_step(step, doc_ids=[d.id for d in docs], raw=gen.text, answer=text,
                        mean_entropy=gen.mean_entropy)
        return text, gen

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
