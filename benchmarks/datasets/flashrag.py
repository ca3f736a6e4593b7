"""FlashRAG-format QA files (``RUC-NLPIR/FlashRAG_datasets``) and, optionally, their corpus.

Accepted QA file (JSON Lines, one question per line)::

    {"id": "test_0", "question": "who wrote ...?", "golden_answers": ["Jane Austen"],
     "metadata": {...}}

``golden_answers`` may also be a single string; ``metadata`` is kept per question under
``dataset.metadata["question_metadata"]``. An optional ``"image"`` path (relative to the
file's folder) makes a multimodal question.

Accepted corpus file (``corpus=PATH``), FlashRAG's retrieval-corpus format::

    {"id": "0", "contents": "\\"Title\\"\\nPassage text ..."}

where the first line of ``contents``, stripped of quotes, is the title (lines with explicit
``"title"`` / ``"text"`` fields are accepted too).

FlashRAG QA sets carry no document judgements, so ``qrels`` is empty: score retrieval by
whether retrieved passages contain a gold answer
(:func:`nyx.answer_metrics.answer_contains`), as FlashRAG does.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nyx.benchmarks.datasets.base import (
    CorpusEntry,
    DatasetFormatError,
    Query,
    RetrievalDataset,
    check_limit,
    make_document,
    make_query,
)
from nyx.benchmarks.datasets.files import iter_jsonl, require_file, require_key, resolve_path

logger = logging.getLogger(__name__)

__all__ = ["load_flashrag", "read_flashrag_corpus", "split_contents"]


def split_contents(contents: str) -> tuple[str, str]:
    """``'"Title"\\ntext'`` -> ``("Title", "text")``; no newline -> ``("", contents)``."""
    if "\n" not in contents:
        return "", contents
    title, text = contents.split("\n", 1)
    return title.strip().strip('"'), text.strip()


def _answers(value: Any, path: Path, line_no: int) -> list[str]:
    golds = [value] if isinstance(value, str) else value
    if not isinstance(golds, list) or not all(isinstance(g, (str, int, float)) for g in golds):
        raise DatasetFormatError(
            f"{path}:{line_no}: 'golden_answers' must be a list of strings, got {value!r}"
        )
    golds = [str(g) for g in golds if str(g).strip()]
    if not golds:
        raise DatasetFormatError(f"{path}:{line_no}: 'golden_answers' is empty")
    return golds


def read_flashrag_corpus(path: Path) -> dict[str, CorpusEntry]:
    """Read a FlashRAG corpus JSONL (``id`` + ``contents``, or ``id`` + ``title``/``text``)."""
    corpus: dict[str, CorpusEntry] = {}
    for line_no, record in tqdm(
        iter_jsonl(path), desc=f"reading {path.name}", unit=" docs", leave=False
    ):
        doc_id = str(require_key(record, ("id", "_id"), path, line_no))
        if doc_id in corpus:
            raise DatasetFormatError(f"{path}:{line_no}: duplicate document id {doc_id!r}")
        if "contents" in record:
            title, text = split_contents(str(record["contents"]))
        else:
            text = str(require_key(record, ("text",), path, line_no))
            title = str(record.get("title", ""))
        corpus[doc_id] = make_document(text, title, resolve_path(record.get("image"), path.parent))
    return corpus


def load_flashrag(
    path: str | os.PathLike[str],
    corpus: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> RetrievalDataset:
    """Load a FlashRAG QA JSONL (``limit`` keeps the first questions; ``cache_dir`` unused)."""
    check_limit(limit)
    qa_path = require_file(
        Path(path).expanduser(),
        "FlashRAG QA file",
        "expected JSON Lines with id, question, golden_answers",
    )
    queries: dict[str, Query] = {}
    answers: dict[str, list[str]] = {}
    extra: dict[str, Any] = {}
    for line_no, record in iter_jsonl(qa_path):
        qid = str(require_key(record, ("id",), qa_path, line_no))
        if qid in queries:
            raise DatasetFormatError(f"{qa_path}:{line_no}: duplicate question id {qid!r}")
        question = require_key(record, ("question",), qa_path, line_no)
        if not isinstance(question, str) or not question.strip():
            raise DatasetFormatError(f"{qa_path}:{line_no}: 'question' must be a non-empty string")
        queries[qid] = make_query(question, resolve_path(record.get("image"), qa_path.parent))
        answers[qid] = _answers(
            require_key(record, ("golden_answers",), qa_path, line_no), qa_path, line_no
        )
        if record.get("metadata"):
            extra[qid] = record["metadata"]
        if limit and len(queries) >= limit:
            break
    if not queries:
        raise DatasetFormatError(f"{qa_path} holds no questions")
    documents: dict[str, CorpusEntry] = {}
    if corpus is not None:
        corpus_path = require_file(
            Path(corpus).expanduser(), "FlashRAG corpus", "expected JSON Lines with id and contents"
        )
        documents = read_flashrag_corpus(corpus_path)
    return RetrievalDataset(
        name=f"flashrag:{qa_path}",
        corpus=documents,
        queries=queries,
        qrels={},
        answers=answers,
        metadata={
            "source": str(qa_path),
            "format": "flashrag",
            "corpus": str(corpus) if corpus is not None else None,
            "question_metadata": extra,
        },
    )
