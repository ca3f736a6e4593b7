"""Agentic search (Search-R1 / ReAct style): the model writes ``<search>query</search>``, the
search tool's result is inserted as ``<result>...</result>``, up to ``max_calls`` times, then
``<answer>...</answer>``.

Tool calls go through :meth:`SearchTool.dispatch` as OpenAI-style calls, so a malformed call
shows up as an error result, as it would for an API model. After each tool result the token
entropy of the model's next generation is recorded (``Answer.metadata["post_tool_entropy"]``):
how sure the model is once it has read what it searched for.

A 135M model seldom opens a search tag by itself; ``force_first_search`` starts its first
turn with ``<search>`` so that it writes a query. A turn without a tag, or running out of
calls, is followed by ``<answer>`` so that the run always ends with an answer.

``answer_from="documents"`` keeps the model's searches but writes the final answer with the
pipelines' reading prompt over the documents the searches returned (the best-scored ``k``), in
the spirit of Search-o1's reason-in-documents step: small models that cannot answer inside the
``<result>`` transcript still read passages well. The default, ``"transcript"``, answers inside it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from nyx.ensemble.pipelines.base import Pipeline
from nyx.ensemble.prompts import extract_answer, truncate_words
from nyx.ensemble.tools import SearchTool
from nyx.ensemble.types import Answer, Generation, Message
from nyx.results import SearchResult

__all__ = ["AgenticPipeline"]

INSTRUCTIONS = ("Answer the question. To look something up, write <search>query</search> and "
                "read the result. When you know the answer, write <answer>short answer</answer>.")
DEMO = ("Question: When was the Eiffel Tower completed?\n"
        "<search>Eiffel Tower completed</search>\n"
        "<result>[1] The Eiffel Tower in Paris was completed in 1889 as the entrance arch to "
        "the World's Fair.</result>\n<answer>1889</answer>")
_SEARCH = re.compile(r"<search>(.*?)(?:</search>|$)", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL)


class AgenticPipeline(Pipeline):
    """The model drives retrieval through a :class:`~nyx.ensemble.tools.SearchTool`."""


    def __init__(self, *args: Any, max_calls: int = 3, force_first_search: bool = True,
                 turn_tokens: int = 24, answer_from: str = "transcript", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if max_calls < 0:
            raise ValueError(f"max_calls must be >= 0, got {max_calls}")
        if answer_from not in ("transcript", "documents"):
            raise ValueError(f"answer_from must be 'transcript' or 'documents', got "
                             f"{answer_from!r}")
        self.answer_from = answer_from
        self.max_calls = max_calls
        self.force_first_search = force_first_search
        self.turn_tokens = turn_tokens
        self._tool: SearchTool | None = None

    @property
    def tool(self) -> SearchTool:
        if self._tool is None:
            if self.retriever is None:
                raise ValueError("the agentic pipeline needs a retriever for its search tool")
            self._tool = SearchTool(self.retriever, snippet_words=self.max_words)
        return self._tool

    def _prompt(self, question: str, transcript: str) -> str | list[Message]:
        head = f"{INSTRUCTIONS}\n\n{DEMO}\n\n" if self.few_shot else f"{INSTRUCTIONS}\n\n"
        if self.style == "chat":
            return [{"role": "user", "content": f"{head}Question: {question}"},
                    {"role": "assistant", "content": transcript}]
        return f"{head}Question: {question}\n{transcript}"

    def _turn(self, question: str, transcript: str, stop: list[str],
              tokens: int | None = None) -> Generation:
        return self.generate([self._prompt(question, transcript)],
                             max_new_tokens=tokens or self.turn_tokens, stop=stop)[0]

    def _run(self, question: str) -> Answer:
        answer = Answer(question, "")
        answer.metadata["post_tool_entropy"] = []
        transcript = "<search>" if self.force_first_search and self.max_calls else ""
        docs: dict[str, SearchResult] = {}
        calls, after_tool = 0, False
        while True:
            gen = self._turn(question, transcript, ["</search>", "</answer>"])
            if after_tool:
                answer.metadata["post_tool_entropy"].append(gen.mean_entropy)
                answer.add_step("post_tool_entropy", call=calls, mean_entropy=gen.mean_entropy,
                                first_token_entropy=(gen.token_entropies or [None])[0])
                after_tool = False
            if transcript.endswith("<search>"):  # the model was given the opening tag
                query, found = gen.text.split("\n")[0], None
                written = transcript + query
            else:
                query, found = _last(_SEARCH, gen.text), _last(_ANSWER, gen.text)
                written = transcript + gen.text
                if found is not None and gen.text.rfind("<answer>") > gen.text.rfind("<search>"):
                    query = None
            if query is None and found is not None and found.strip():
                return self._done(answer, found, gen, docs, question)
            if query and query.strip() and calls < self.max_calls:
                result = self._search(answer, query.strip(), calls, docs)
                transcript = f"{written.rstrip()}</search>\n<result>{result}</result>\n"
                calls, after_tool = calls + 1, True
                continue
            # no usable tag, or out of calls: ask for the answer directly
            if self.answer_from == "documents" and docs:
                return self._done(answer, "", gen, docs, question)
            transcript = f"{written.rstrip()}\n<answer>"
            gen = self._turn(question, transcript, ["</answer>", "\n"], self.max_new_tokens)
            return self._done(answer, gen.text, gen, docs, question)

    def _search(self, answer: Answer, query: str, call: int,
                docs: dict[str, SearchResult]) -> str:
        message = self.tool.dispatch({"id": f"call_{call}", "type": "function", "function": {
            "name": "search", "arguments": json.dumps({"query": query, "k": self.k})}})
        content = json.loads(message["content"])
        if "error" in content:
            answer.add_step("tool_error", query=query, error=content["error"])
            return f"error: {content['error']}"
        results = content["results"]
        for r in results:
            docs.setdefault(r["id"], SearchResult.from_dict({**r, "text": r["snippet"]}))
        answer.add_step("search", query=query, ids=[r["id"] for r in results],
                        scores=[r["score"] for r in results])
        return " ".join(f"[{n}] {truncate_words(r['snippet'], self.max_words)}"
                        for n, r in enumerate(results, 1))

    def _done(self, answer: Answer, text: str, gen: Generation,
              docs: dict[str, SearchResult], question: str) -> Answer:
        found = list(docs.values())
        if self.answer_from == "documents" and found:
            best = sorted(found, key=lambda d: -d.score)[:self.k]
            text, gen = self.answer_docs(answer, question, best, step="answer")
            return Pipeline.finish(answer, text, gen, found)
        answer.add_step("answer", raw=gen.text)
        return Pipeline.finish(answer, extract_answer(text), gen, found)


def _last(pattern: re.Pattern[str], text: str) -> str | None:
    matches = pattern.findall(text)
    return matches[-1] if matches else None
