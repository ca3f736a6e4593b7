"""SQuAD v1.1 dev: the official file, from a local data folder, the cache, or its real source.

The file is declared in :mod:`nyx.benchmarks.datasets.sources` (``squad/dev-v1.1.json``, sha256
pinned): put it in ``$NYX_DATA_DIR`` (``--data-dir``), or let the first load fetch it from
rajpurkar.github.io into the cache.

The retrieval view: the corpus is the 2,067 paragraphs (identical contexts are merged, ids
``"<article idx>-<paragraph idx>"`` of the first occurrence, titles from the article with ``_``
as spaces); the questions are the queries, each with its own paragraph as the one relevant
document (grade 1), and their gold answers (duplicates removed, order kept).
SQuAD is CC BY-SA 4.0.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from nyx.benchmarks.datasets.base import (
    DatasetFormatError,
    RetrievalDataset,
    check_limit,
    make_document,
    make_query,
)
from nyx.benchmarks.datasets.sources import DATA_FILES, locate

logger = logging.getLogger(__name__)

__all__ = ["build_squad_dataset", "fetch_squad_dev", "load_squad_dev", "read_squad_file"]

NAME = "squad-dev"


def fetch_squad_dev(cache_dir: str | os.PathLike[str] | None = None,
                    data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The verified SQuAD v1.1 dev JSON (data folder, cache, then download)."""
    return locate(NAME, data_dir, cache_dir)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def build_squad_dataset(data: dict[str, Any], source: str = "dev-v1.1.json") -> RetrievalDataset:
    """Turn a parsed SQuAD v1.1 JSON document into a :class:`RetrievalDataset`."""
    corpus: dict[str, Any] = {}
    queries: dict[str, Any] = {}
    qrels: dict[str, dict[str, int]] = {}
    answers: dict[str, list[str]] = {}
    doc_of_context: dict[str, str] = {}
    merged = 0
    try:
        articles = data["data"]
        for a_idx, article in enumerate(articles):
            title = str(article.get("title", "")).replace("_", " ")
            for p_idx, paragraph in enumerate(article["paragraphs"]):
                context = paragraph["context"]
                doc_id = doc_of_context.get(context)
                if doc_id is None:
                    doc_id = doc_of_context[context] = f"{a_idx}-{p_idx}"
                    corpus[doc_id] = make_document(text=context, title=title)
                else:
                    merged += 1
                for qa in paragraph["qas"]:
                    qid = str(qa["id"])
                    if qid in queries:
                        raise DatasetFormatError(f"{source}: question id {qid!r} appears twice")
                    queries[qid] = make_query(text=qa["question"])
                    qrels[qid] = {doc_id: 1}
                    answers[qid] = _unique([str(a["text"]) for a in qa["answers"]])
    except (KeyError, TypeError) as error:
        raise DatasetFormatError(
            f"{source} is not SQuAD v1.1 JSON (data -> paragraphs -> qas): missing {error}"
        ) from error
    return RetrievalDataset(
        name=NAME,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        answers=answers,
        metadata={
            "version": data.get("version"),
            "articles": len(articles),
            "merged_duplicate_paragraphs": merged,
        },
    )


def read_squad_file(name: str, path: Path) -> RetrievalDataset:
    """Parse a SQuAD-format file declared as data set ``name`` into its retrieval view."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    dataset = build_squad_dataset(data, source=str(path))
    spec = DATA_FILES[name]
    dataset.name = name
    dataset.metadata.update(source=spec.urls[0], sha256=spec.sha256, license=spec.licence,
                            path=str(path))
    return dataset


def load_squad_dev(
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> RetrievalDataset:
    """SQuAD v1.1 dev as a retrieval + QA set; ``limit`` keeps the first questions only."""
    check_limit(limit)
    return read_squad_file(NAME, fetch_squad_dev(cache_dir, data_dir)).head(limit)
