"""A list-wise LLM reranker (RankGPT-style): the model writes a ranked list of passage ids.

Small models write messy lists, so the answer is cleaned: numbers outside ``1..n`` and
repeats are dropped (the first mention counts) and passages never mentioned are appended in
their first-stage order. Only the first ``window`` passages are shown to the model; the rest
keep their order after them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

from nyx.ensemble.generators.base import Generator
from nyx.ensemble.prompts import truncate_words
from nyx.ensemble.rerankers.base import Reranker
from nyx.ensemble.types import Message
from nyx.results import SearchResult

__all__ = ["LLMListwiseReranker", "clean_ranking", "parse_ranking"]

_NUMBER = re.compile(r"\d+")

INSTRUCTION = ("Rank the passages by how useful they are for answering the question. "
               "Reply with the passage numbers only, most useful first, like: 2 > 1 > 3")


def clean_ranking(indices: Sequence[int], n: int) -> list[int]:
    """A permutation of ``range(n)``: keeps valid first mentions, appends the rest in order."""
    seen: set[int] = set()
    ranking = []
    for i in indices:
        if 0 <= i < n and i not in seen:
            seen.add(i)
            ranking.append(i)
    return ranking + [i for i in range(n) if i not in seen]


def parse_ranking(text: str, n: int) -> list[int]:
    """0-based passage indices from text such as ``"[2] > [1] > 3"`` (labels start at 1)."""
    return clean_ranking([int(m) - 1 for m in _NUMBER.findall(text)], n)


class LLMListwiseReranker(Reranker):
    """Asks ``generator`` for a ranking of up to ``window`` passages (``max_words`` each)."""

    component_fields: ClassVar[tuple[str, ...]] = ("generator",)

    def __init__(self, generator: Generator, *, window: int = 10, max_words: int = 60,
                 max_new_tokens: int = 40, style: str = "completion") -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        self.generator = generator
        self.window = window
        self.max_words = max_words
        self.max_new_tokens = max_new_tokens
        self.style = style

    def prompt(self, query: str, docs: Sequence[SearchResult]) -> str | list[Message]:
        passages = "\n".join(f"[{n}] {truncate_words(d.text, self.max_words)}"
                             for n, d in enumerate(docs, 1))
        body = f"{INSTRUCTION}\n\n{passages}\n\nQuestion: {query}"
        if self.style == "chat":
            return [{"role": "user", "content": body}]
        return f"{body}\nRanking:"

    def rerank(self, query: str, docs: Sequence[SearchResult]) -> list[SearchResult]:
        return self.rerank_with_text(query, docs)[0]

    def rerank_with_text(self, query: str, docs: Sequence[SearchResult]
                         ) -> tuple[list[SearchResult], dict[str, Any]]:
        """The reranked passages and what the model wrote (for pipeline step records)."""
        docs = list(docs)
        if len(docs) < 2:
            return docs, {"raw": "", "order": list(range(len(docs)))}
        head, tail = docs[:self.window], docs[self.window:]
        gen = self.generator.generate(self.prompt(query, head),
                                      max_new_tokens=self.max_new_tokens, stop=["\n"])[0]
        order = parse_ranking(gen.text, len(head))
        ranked = [replace(head[i], score=float(len(head) - r), first_stage_score=head[i].score)
                  for r, i in enumerate(order)]
        return ranked + tail, {"raw": gen.text, "order": order}
