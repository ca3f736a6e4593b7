"""The one shape every benchmark data set takes: corpus, queries, graded qrels and answers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

logger = logging.getLogger(__name__)

__all__ = [
    "CorpusEntry",
    "DatasetError",
    "DatasetFormatError",
    "DatasetUnavailableError",
    "Query",
    "RetrievalDataset",
    "check_limit",
    "make_document",
    "make_query",
]


class DatasetError(Exception):
    """Base class of every data set loading error."""


class DatasetFormatError(DatasetError, ValueError):
    """A data file is malformed; the message names the file and, where known, the line."""


class DatasetUnavailableError(DatasetError, RuntimeError):
    """The data cannot be had here (missing package, no network); the message says what to do."""


class CorpusEntry(TypedDict):
    """A corpus entry. ``image`` is a path to an image file, or ``None`` for text only."""

    text: str
    title: str
    image: str | None


class Query(TypedDict):
    """A query: text, an image path, or both (``text`` is ``""`` for image-only queries)."""

    text: str
    image: str | None


def make_document(text: str = "", title: str = "", image: str | None = None) -> CorpusEntry:
    return {"text": text, "title": title, "image": image}


def make_query(text: str = "", image: str | None = None) -> Query:
    return {"text": text, "image": image}


def check_limit(limit: int | None) -> int | None:
    """Validate a ``limit`` argument: ``None`` (everything) or a positive integer."""
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    return limit


@dataclass
class RetrievalDataset:
    """A retrieval (and optionally QA) benchmark held in memory.

    Attributes:
        name: registry name, e.g. ``"squad-dev"`` or ``"beir:/data/my-beir-set"``.
        corpus: doc id -> :class:`CorpusEntry`.
        queries: query id -> :class:`Query`.
        qrels: query id -> {doc id: graded relevance}; grades ``> 0`` are relevant.
        answers: query id -> gold answer strings, for QA sets (empty otherwise).
        metadata: provenance and extras: source, checksums, license, class names, ...
    """

    name: str
    corpus: dict[str, CorpusEntry]
    queries: dict[str, Query]
    qrels: dict[str, dict[str, int]]
    answers: dict[str, list[str]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.queries)

    def __repr__(self) -> str:
        return (
            f"RetrievalDataset(name={self.name!r}, docs={len(self.corpus)}, "
            f"queries={len(self.queries)}, judged={len(self.qrels)}, "
            f"answered={len(self.answers)})"
        )

    @property
    def modalities(self) -> dict[str, list[str]]:
        """Which of ``text`` / ``image`` occur in the corpus and in the queries."""

        def kinds(items: Any) -> list[str]:
            found = set()
            for item in items:
                if item.get("text") or item.get("title"):
                    found.add("text")
                if item.get("image"):
                    found.add("image")
            return sorted(found)

        return {"corpus": kinds(self.corpus.values()), "queries": kinds(self.queries.values())}

    def summary(self) -> dict[str, Any]:
        """Counts for reports and logs."""
        judgements = sum(len(rels) for rels in self.qrels.values())
        return {
            "name": self.name,
            "documents": len(self.corpus),
            "queries": len(self.queries),
            "judged_queries": len(self.qrels),
            "judgements": judgements,
            "answered_queries": len(self.answers),
            "modalities": self.modalities,
        }

    def head(self, limit: int | None) -> RetrievalDataset:
        """The first ``limit`` queries (in insertion order) with their qrels and answers.

        The corpus is kept whole, so retrieval stays as hard as on the full set.
        """
        if check_limit(limit) is None or limit >= len(self.queries):
            return self
        kept = dict(list(self.queries.items())[:limit])
        return replace(
            self,
            queries=kept,
            qrels={qid: rels for qid, rels in self.qrels.items() if qid in kept},
            answers={qid: golds for qid, golds in self.answers.items() if qid in kept},
            metadata={**self.metadata, "limit": limit},
        )

    def validate(self, strict: bool = False) -> list[str]:
        """Check qrels and answers against queries and corpus.

        Returns the problems found (and logs them). With ``strict=True`` any problem raises
        :class:`DatasetFormatError`. Judged documents missing from the corpus are a problem
        because no run can retrieve them.
        """
        problems: list[str] = []
        unknown_queries = [qid for qid in self.qrels if qid not in self.queries]
        if unknown_queries:
            problems.append(
                f"{len(unknown_queries)} qrels query ids are not queries, e.g. "
                f"{unknown_queries[:3]}"
            )
        missing_docs = sorted(
            {doc for rels in self.qrels.values() for doc in rels if doc not in self.corpus}
        )
        if missing_docs:
            problems.append(
                f"{len(missing_docs)} judged doc ids are not in the corpus, e.g. {missing_docs[:3]}"
            )
        unanswered = [qid for qid, golds in self.answers.items() if not golds]
        if unanswered:
            problems.append(f"{len(unanswered)} queries have an empty answer list")
        for problem in problems:
            logger.warning("data set %s: %s", self.name, problem)
        if strict and problems:
            raise DatasetFormatError(f"data set {self.name!r} is inconsistent: {problems}")
        return problems
