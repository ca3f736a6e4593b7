"""Question-answer generation from a chunk: the context a text generator sees, the prompt, and
the parsing of its output.

A text-only generator cannot see images, so each image of a chunk appears in the context as
``[Image: ...]`` with its alt text and, when a describer is given, what nyx-lite sees in it
(top ImageNet labels and OCR text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from nyx.content import ImagePart, Item

#: ``images -> one description per image``.
Describer = Callable[[Sequence[ImagePart]], list[str]]
Messages = list[dict[str, str]]

SYSTEM = ("You write quiz questions about a passage. Each question must make sense on its own, "
          "without the passage, and its answer must be a short phrase copied from the passage.")

# A made-up demonstration, so no benchmark text leaks into the prompt.
_EXAMPLE_PASSAGE = ("The Golden Gate Bridge opened in 1937. It spans the strait between San "
                    "Francisco Bay and the Pacific Ocean and was designed by Joseph Strauss.")
_EXAMPLE_OUTPUT = ("Question: In which year did the Golden Gate Bridge open?\nAnswer: 1937\n"
                   "Question: Who designed the Golden Gate Bridge?\nAnswer: Joseph Strauss")

_PAIR = re.compile(r"Q(?:uestion)?\s*\d*\s*[:.)]\s*(?P<q>.+?)\s*\n+\s*A(?:nswer)?\s*\d*\s*[:.)]"
                   r"\s*(?P<a>[^\n]+)", re.IGNORECASE)


def chunk_context(item: Item, describer: Describer | None = None) -> str:
    """The chunk as text: text parts in order, images as ``[Image: alt; description]``."""
    images = item.images
    descriptions = describer(images) if (describer is not None and images) else [""] * len(images)
    pieces, n = [], 0
    for part in item.parts:
        if isinstance(part, str):
            if part.strip():
                pieces.append(part.strip())
            continue
        details = "; ".join(d for d in (part.alt.strip(), descriptions[n].strip()) if d)
        pieces.append(f"[Image: {details or 'no description'}]")
        n += 1
    return "\n".join(pieces)


def qa_generation_prompt(context: str, n: int = 2) -> Messages:
    """Chat messages asking for ``n`` question/answer pairs in a fixed, parseable format."""
    if n < 1:
        raise ValueError(f"questions_per_chunk must be >= 1, got {n}")
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": _ask(2) + _EXAMPLE_PASSAGE},
        {"role": "assistant", "content": _EXAMPLE_OUTPUT},
        {"role": "user", "content": _ask(n) + context},
    ]


def _ask(n: int) -> str:
    return f"Write {n} question{'s' if n > 1 else ''} with answers about this passage.\n\n"


def parse_qa_pairs(text: str, limit: int | None = None) -> list[dict[str, str]]:
    """``Question: ... / Answer: ...`` pairs in a generation (numbered variants accepted)."""
    pairs = [{"question": m.group("q").strip(), "answer": m.group("a").strip()}
             for m in _PAIR.finditer(text)]
    return pairs[:limit] if limit is not None else pairs


def refine_prompt(question: str, answer: str) -> Messages:
    """Ask the generator to cut a long answer down to a short phrase."""
    return [
        {"role": "system", "content": "Rewrite answers as the shortest phrase that still "
                                      "answers the question. Reply with the phrase only."},
        {"role": "user", "content": "Question: When did the bridge open?\nAnswer: The bridge "
                                    "was opened to the public in the year 1937."},
        {"role": "assistant", "content": "1937"},
        {"role": "user", "content": f"Question: {question}\nAnswer: {answer}"},
    ]


def lite_describer(lite: Any, labels: int = 2) -> Describer:
    """Describe images with nyx-lite: its top ImageNet labels and any OCR text."""

    def describe(images: Sequence[ImagePart]) -> list[str]:
        out = []
        for analysis in lite.analyze_images(list(images)):
            names = ", ".join(name.split(",")[0] for name, _ in analysis.labels[:labels])
            text = f"looks like {names}" if names else ""
            if analysis.ocr_text.strip():
                text += f"; text in the image: {analysis.ocr_text.strip()[:200]}"
            out.append(text)
        return out

    return describe
