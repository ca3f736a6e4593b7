"""easy-VQA (PyPI ``easy-vqa`` 1.0, MIT): synthetic 64x64 images of one coloured shape.

``pip install easy-vqa`` puts 4,000 train / 1,000 test PNGs and their questions inside the
package; images are indexed where they lie. Each image shows one shape (circle, rectangle,
triangle) in one of 8 colours, and carries ~10 questions with one-word answers (13 in all).

Two views, both over the images of one split (doc ids ``"<split>-<image id>"``):

``easy-vqa`` (text-to-image retrieval)
    The package records no labels, so each image's colour and shape are *inferred* from its
    question/answer pairs: open questions give them directly ("what color is the circle?" ->
    "blue" says blue *and* circle), yes/no questions assert or deny a colour or shape ("is there
    not a red shape?" -> "no" asserts red), and an attribute left undetermined after that is the
    one value no answer denied. An image whose pairs contradict each other or leave a value
    open is left out (logged): in easy-vqa 1.0 that keeps 888 of the 1,000 test images and
    3,578 of the 4,000 train images (most left-out images are never asked their colour); the
    inferred colours were checked against the pixels (all 888 agree). There is one query per
    (colour, shape) pair present, the text ``"a blue circle"``, and every image with that
    colour and shape is relevant - a description that is unambiguous by construction, unlike
    a single question. ``limit`` keeps the first images by id.

``easy-vqa-qa`` (visual question answering)
    One query per question: its text plus the image path, the image as its one relevant
    document, and the answer as the gold answer. ``limit`` keeps the first questions.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nyx.benchmarks.datasets.base import (
    DatasetUnavailableError,
    RetrievalDataset,
    check_limit,
    make_document,
    make_query,
)

logger = logging.getLogger(__name__)

__all__ = ["COLORS", "SHAPES", "infer_attributes", "load_easy_vqa", "load_easy_vqa_qa"]

COLORS: tuple[str, ...] = ("red", "green", "blue", "black", "gray", "teal", "brown", "yellow")
SHAPES: tuple[str, ...] = ("circle", "rectangle", "triangle")
DEFAULT_TEMPLATE = "a {color} {shape}"
_WORD = re.compile(r"[a-z]+")
_NEGATION = frozenset({"not", "no"})


@dataclass
class _Evidence:
    asserted: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)

    def resolve(self, values: tuple[str, ...]) -> str | None:
        if self.asserted & self.denied or len(self.asserted) > 1:
            return None  # contradictory
        if self.asserted:
            return next(iter(self.asserted))
        remaining = [v for v in values if v not in self.denied]
        return remaining[0] if len(remaining) == 1 else None


def infer_attributes(pairs: list[tuple[str, str]]) -> tuple[str, str] | None:
    """(colour, shape) of one image from its (question, answer) pairs, or None if unclear."""
    colors, shapes = _Evidence(), _Evidence()

    def note(word: str, present: bool) -> None:
        for vocabulary, evidence in ((COLORS, colors), (SHAPES, shapes)):
            if word in vocabulary:
                (evidence.asserted if present else evidence.denied).add(word)

    for question, answer in pairs:
        words = _WORD.findall(question.lower())
        answer = answer.strip().lower()
        if answer in ("yes", "no"):
            present = (answer == "yes") != bool(_NEGATION.intersection(words))
            for word in words:
                note(word, present)
        else:  # open question: its words presuppose the attribute, the answer names one
            for word in [*words, answer]:
                note(word, True)
    color, shape = colors.resolve(COLORS), shapes.resolve(SHAPES)
    return (color, shape) if color and shape else None


def _package() -> Any:
    try:
        import easy_vqa
    except ImportError as error:
        raise DatasetUnavailableError(
            "easy-VQA needs the PyPI package easy-vqa: `pip install easy-vqa` "
            "(or the extra `pip install nyx-retrieval[bench]`)"
        ) from error
    return easy_vqa


def _read_split(split: str) -> tuple[dict[int, str], list[tuple[str, str, int]]]:
    """Image paths by id, and (question, answer, image id) triples, in file order."""
    package = _package()
    readers: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "test": (package.get_test_image_paths, package.get_test_questions),
        "train": (package.get_train_image_paths, package.get_train_questions),
    }
    if split not in readers:
        raise ValueError(f"unknown easy-VQA split {split!r}; use 'test' or 'train'")
    paths_reader, questions_reader = readers[split]
    texts, answers, image_ids = questions_reader()
    return dict(paths_reader()), list(zip(texts, answers, image_ids))


def _corpus(split: str, paths: dict[int, str], image_ids: list[int]) -> dict[str, Any]:
    return {f"{split}-{i}": make_document(image=paths[i]) for i in image_ids}


def load_easy_vqa(
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    split: str = "test",
    template: str = DEFAULT_TEMPLATE,
) -> RetrievalDataset:
    """The text-to-image retrieval view; ``cache_dir`` is unused (files stay in the package)."""
    check_limit(limit)
    paths, triples = _read_split(split)
    image_ids = sorted(paths)[:limit] if limit else sorted(paths)
    pairs: dict[int, list[tuple[str, str]]] = {i: [] for i in image_ids}
    for question, answer, image_id in triples:
        if image_id in pairs:
            pairs[image_id].append((question, answer))
    attributes: dict[str, dict[str, str]] = {}
    qrels: dict[str, dict[str, int]] = {}
    unresolved = []
    for image_id in image_ids:
        found = infer_attributes(pairs[image_id])
        if found is None:
            unresolved.append(image_id)
            continue
        color, shape = found
        doc_id = f"{split}-{image_id}"
        attributes[doc_id] = {"color": color, "shape": shape}
        qrels.setdefault(f"{color}-{shape}", {})[doc_id] = 1
    if unresolved:
        logger.warning(
            "easy-VQA %s: colour/shape unclear for %d images (left out): %s",
            split,
            len(unresolved),
            unresolved[:10],
        )
    order = [f"{c}-{s}" for s in SHAPES for c in COLORS if f"{c}-{s}" in qrels]
    queries = {}
    for qid in order:
        color, shape = qid.split("-")
        queries[qid] = make_query(text=template.format(color=color, shape=shape))
    kept = [i for i in image_ids if f"{split}-{i}" in attributes]
    return RetrievalDataset(
        name="easy-vqa",
        corpus=_corpus(split, paths, kept),
        queries=queries,
        qrels={qid: qrels[qid] for qid in order},
        metadata={
            "source": "PyPI package easy-vqa",
            "split": split,
            "attributes": attributes,
            "unresolved_images": unresolved,
            "template": template,
            "license": "MIT",
        },
    )


def load_easy_vqa_qa(
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    split: str = "test",
) -> RetrievalDataset:
    """The VQA view: question + image queries with one-word gold answers."""
    check_limit(limit)
    paths, triples = _read_split(split)
    queries = {}
    qrels = {}
    answers = {}
    for index, (question, answer, image_id) in enumerate(triples):
        qid = f"{split}-q{index}"
        queries[qid] = make_query(text=question, image=paths[image_id])
        qrels[qid] = {f"{split}-{image_id}": 1}
        answers[qid] = [answer]
    dataset = RetrievalDataset(
        name="easy-vqa-qa",
        corpus=_corpus(split, paths, sorted(paths)),
        queries=queries,
        qrels=qrels,
        answers=answers,
        metadata={
            "source": "PyPI package easy-vqa",
            "split": split,
            "answer_vocabulary": sorted({a for _, a, _ in triples}),
            "license": "MIT",
        },
    )
    return dataset.head(limit)
