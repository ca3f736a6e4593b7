"""The questions, gold answers and passages one RQ task runs on.

Questions are a seeded random sample of the data set (not its first N: SQuAD-dev's first
questions all come from one article). SQuAD-dev's passages are its 2,067 paragraphs. For
easy-VQA each image becomes a caption passage (:mod:`nyx.benchmarks.rq.captions`) and each
question names its image ("In image 12, what color is the shape?"), so retrieving by the
question finds that image's caption: the image reaches the text-only generator as text.
Yes/no questions end in "Answer yes or no." (the few-shot prompts only show short factual
answers); every system sees the same question text.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from nyx.benchmarks.datasets import RetrievalDataset, load_dataset
from nyx.benchmarks.rq.captions import caption_accuracy, caption_image
from nyx.ensemble.passages import Corpus

logger = logging.getLogger(__name__)

__all__ = ["TaskData", "load_task_data", "sample_ids"]

VQA_DATASETS = ("easy-vqa-qa",)
#: easy-VQA's yes/no questions start with these words; they get "Answer yes or no." appended
YES_NO_STARTS = frozenset({"is", "are", "does", "do", "can"})


@dataclass
class TaskData:
    """What every system of a task sees (``questions``) and is scored against."""

    name: str
    dataset: str
    questions: dict[str, str]
    answers: dict[str, list[str]]
    qrels: dict[str, dict[str, int]]
    corpus: Corpus
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.questions)


def sample_ids(ids: list[str], limit: int, seed: int) -> list[str]:
    """``limit`` ids drawn with ``seed``, kept in data set order."""
    if limit >= len(ids):
        return list(ids)
    chosen = set(random.Random(seed).sample(ids, limit))
    return [i for i in ids if i in chosen]


def load_task_data(name: str, dataset: str, limit: int, seed: int) -> TaskData:
    """Load ``dataset`` and draw ``limit`` questions with ``seed``."""
    full = load_dataset(dataset)
    eligible = [qid for qid in full.queries if full.answers.get(qid)]
    qids = sample_ids(eligible, limit, seed)
    if dataset in VQA_DATASETS:
        return _captioned_vqa(name, full, qids)
    corpus = Corpus({doc_id: dict(doc) for doc_id, doc in full.corpus.items()}, name="corpus")
    return TaskData(name, dataset, {q: full.queries[q]["text"] for q in qids},
                    {q: full.answers[q] for q in qids},
                    {q: full.qrels.get(q, {}) for q in qids}, corpus,
                    {"source": full.metadata.get("source"), "sampled_from": len(eligible),
                     "passages": len(corpus)})


def _label(doc_id: str) -> str:
    return doc_id.rsplit("-", 1)[-1]


def _captioned_vqa(name: str, full: RetrievalDataset, qids: list[str]) -> TaskData:
    captions = {doc_id: caption_image(doc["image"]) for doc_id, doc in full.corpus.items()
                if doc.get("image")}
    corpus = Corpus({doc_id: {"text": cap.text(_label(doc_id)), "title": "",
                              "image": full.corpus[doc_id]["image"]}
                     for doc_id, cap in captions.items()}, name="corpus")
    questions = {}
    for qid in qids:
        image_doc = next(iter(full.qrels[qid]))
        text = full.queries[qid]["text"].strip()
        hint = " Answer yes or no." if text.split()[0].lower() in YES_NO_STARTS else ""
        questions[qid] = f"In image {_label(image_doc)}, {text[:1].lower()}{text[1:]}{hint}"
    used = {next(iter(full.qrels[q])) for q in qids}
    split = full.metadata.get("split", "test")
    attributes = load_dataset("easy-vqa", split=split).metadata["attributes"]
    accuracy = caption_accuracy({d: captions[d] for d in used}, attributes)
    logger.info("easy-VQA captions right (colour and shape) for %.1f%% of %d sampled images",
                100 * accuracy["both"], accuracy["images"])
    return TaskData(name, full.name, questions, {q: full.answers[q] for q in qids},
                    {q: full.qrels[q] for q in qids}, corpus,
                    {"source": full.metadata.get("source"), "sampled_from": len(full.queries),
                     "passages": len(corpus), "caption_surrogate": "pixel rule "
                     "(benchmarks/rq/captions.py): median colour + bounding-box fill",
                     "caption_accuracy_on_sampled_images": accuracy})
