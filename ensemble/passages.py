"""A passage collection that retriever modules index: id -> text, title, image references."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from nyx.results import SearchResult

__all__ = ["Corpus"]


class Corpus:
    """Passages by id. Build it from ``{id: text}``, ``{id: {"text", "title", "image"}}``, a
    list of ``{"id", "text", ...}`` records, or a JSON / JSONL file of such records.

    In configs a corpus is named, never inlined: ``{type: bm25, corpus: squad}`` where
    ``squad`` is a resource handed to :func:`nyx.ensemble.build`, or a path to a JSON(L) file.
    """

    def __init__(self, passages: Mapping[str, Any] | list[Mapping[str, Any]],
                 name: str = "corpus") -> None:
        if isinstance(passages, Mapping):
            records = [{"id": str(k), **_record(v)} for k, v in passages.items()]
        else:
            records = [{"id": str(r["id"]), **_record(r)} for r in passages]
        self.docs: dict[str, dict[str, Any]] = {}
        for rec in records:
            if rec["id"] in self.docs:
                raise ValueError(f"passage id {rec['id']!r} appears twice in corpus {name!r}")
            self.docs[rec["id"]] = rec
        self.resource_name = name
        self._fingerprint: str | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Corpus:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no corpus file at {path}: give a JSON or JSONL file of "
                                    '{"id", "text", "title"} records, or pass it as a resource')
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            data: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            data = data.get("corpus", data) if isinstance(data, dict) else data
        return cls(data, name=str(path))

    @classmethod
    def resolve(cls, value: Any, builder: Any = None) -> Corpus:
        """A corpus from a config value: a Corpus, a resource name, a file path, or a mapping."""
        if isinstance(value, Corpus):
            return value
        if isinstance(value, str):
            if builder is not None and value in builder.resources:
                found = builder.resources[value]
                return found if isinstance(found, Corpus) else cls(found, name=value)
            return cls.from_file(value)
        if isinstance(value, (Mapping, list)):
            return cls(value)
        raise TypeError(f"cannot make a corpus from {type(value).__name__}")

    @property
    def fingerprint(self) -> str:
        """A hash of ids and texts: cache keys change when the passages do."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for doc_id, rec in self.docs.items():
                digest.update(f"{doc_id}\0{rec['text']}\0".encode())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def doc(self, doc_id: str, score: float = 0.0) -> SearchResult:
        """Passage ``doc_id`` as a hit scoring ``score``."""
        rec = self.docs[doc_id]
        meta = {"title": rec["title"]} if rec.get("title") else {}
        return SearchResult(doc_id, score, text=rec["text"], images=list(rec.get("images", [])),
                            metadata=meta)

    def ids(self) -> list[str]:
        return list(self.docs)

    def texts(self) -> list[str]:
        return [rec["text"] for rec in self.docs.values()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.docs)

    def __len__(self) -> int:
        return len(self.docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.docs

    def __repr__(self) -> str:
        return f"Corpus({self.resource_name!r}, passages={len(self)})"


def _record(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"text": value, "title": "", "images": []}
    images = value.get("images") or ([value["image"]] if value.get("image") else [])
    return {"text": str(value.get("text", "")), "title": str(value.get("title", "") or ""),
            "images": [str(i) for i in images]}
