"""Prompts that keep a small instruct model short, and the extraction of a short answer.

SmolLM2-135M rambles when asked plainly. Two few-shot turns that answer with a bare phrase,
a newline stop sequence and :func:`extract_answer` (first line, no "Answer:" prefix, first
sentence) are what made its answers scoreable; ``benchmarks/rag_eval.py`` measures them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nyx.ensemble.types import Message
from nyx.results import SearchResult

__all__ = ["FEW_SHOT", "closed_book_prompt", "extract_answer", "format_documents",
           "qa_prompt", "truncate_words"]

SYSTEM = ("You answer questions with a short phrase copied from the context: a name, a date, "
          "a number or a few words. No full sentences.")

#: (context, question, answer) demonstrations; made up, so no benchmark leaks into prompts.
FEW_SHOT: tuple[tuple[str, str, str], ...] = (
    ("The Eiffel Tower in Paris was completed in 1889 as the entrance arch to the World's "
     "Fair. It was designed by the company of Gustave Eiffel.",
     "When was the Eiffel Tower completed?", "1889"),
    ("Mount Kilimanjaro is a dormant volcano in Tanzania. At 5,895 metres it is the highest "
     "mountain in Africa.",
     "Which country is Mount Kilimanjaro in?", "Tanzania"),
)

_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:final\s+)?(?:short\s+)?answer\s*(?:is)?\s*[:\-]?\s*",
                     re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def truncate_words(text: str, max_words: int) -> str:
    words = text.split()
    return text if len(words) <= max_words else " ".join(words[:max_words]) + " ..."


def format_documents(docs: Sequence[SearchResult], max_words: int = 150) -> str:
    """Numbered passages, ``[1] (Title) text``; images are named by their reference."""
    lines = []
    for n, doc in enumerate(docs, 1):
        title = doc.metadata.get("title")
        head = f"[{n}] ({title}) " if title else f"[{n}] "
        images = "".join(f" [image: {ref}]" for ref in doc.images)
        lines.append(head + truncate_words(doc.text, max_words) + images)
    return "\n".join(lines)


def qa_prompt(question: str, docs: Sequence[SearchResult] = (), *, style: str = "completion",
              few_shot: bool = True, max_words: int = 150, context: str | None = None,
              prefix: str = "") -> str | list[Message]:
    """A prompt asking for a short answer to ``question`` given ``docs`` (or ``context``).

    ``style="completion"`` is plain few-shot text ending in ``Answer:`` (SmolLM2-135M: EM 5/10
    on gold paragraphs, against 0/10 with the same demonstrations as chat turns);
    ``style="chat"`` gives chat messages for models and endpoints that need them.
    ``prefix`` is text the answer continues (FLARE's accepted sentences).
    """
    body = context if context is not None else format_documents(docs, max_words)
    demos = FEW_SHOT if few_shot else ()
    if not body.strip():  # closed book: the demonstrations go without their contexts too
        demos = tuple(("", q, a) for _, q, a in demos)
    if style == "completion":
        parts = [_qa_block(q, ctx, a) for ctx, q, a in demos]
        return "\n\n".join([*parts, _qa_block(question, body, prefix)])
    if style != "chat":
        raise ValueError(f"unknown prompt style {style!r}: use 'completion' or 'chat'")
    messages: list[Message] = [{"role": "system", "content": SYSTEM}]
    for ctx, q, a in demos:
        messages += [{"role": "user", "content": _qa_turn(q, ctx)},
                     {"role": "assistant", "content": a}]
    messages.append({"role": "user", "content": _qa_turn(question, body)})
    if prefix:
        messages.append({"role": "assistant", "content": prefix})
    return messages


def closed_book_prompt(question: str, *, style: str = "completion",
                       few_shot: bool = True) -> str | list[Message]:
    """A short-answer prompt without any context."""
    return qa_prompt(question, (), style=style, few_shot=few_shot, context="")


def _qa_block(question: str, context: str, answer: str) -> str:
    head = f"Context: {context.strip()}\n" if context.strip() else ""
    return f"{head}Question: {question}\nAnswer:" + (f" {answer}" if answer else "")


def _qa_turn(question: str, context: str) -> str:
    if not context.strip():
        return f"Question: {question}"
    return f"Context:\n{context}\n\nQuestion: {question}"


def extract_answer(text: str, max_words: int = 12) -> str:
    """The short answer in a generation: first non-empty line, without an "Answer:" prefix,
    cut at the end of its first sentence, without wrapping quotes or a final period."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    for _ in range(2):  # "Answer: The answer is Paris."
        line = _PREFIX.sub("", line, count=1)
    line = _first_sentence(line)
    for _ in range(2):  # '"1856".' -> 1856
        line = line.strip().strip("\"'*`").rstrip(".,;:").strip()
    words = line.split()
    return " ".join(words[:max_words])


def _first_sentence(line: str) -> str:
    """Cut at the first ``. `` / ``! `` / ``? `` that ends a word of 3+ characters or a
    number, so that "St. Louis", "Dr. Who" and "U.S. Army" stay whole."""
    for match in _SENTENCE_END.finditer(line):
        words = line[:match.start()].split()
        last = words[-1].strip("\"')]") if words else ""
        if (len(last) >= 3 and "." not in last) or last.isdigit():
            return line[:match.start()]
    return line

