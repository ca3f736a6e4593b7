"""Training pairs from jsonl, through the ``datasets`` library, batched into items for the loss.

Each line is ``{"query": Q, "positive": D, "negatives": [D, ...]}`` (``negatives`` optional; other
keys are ignored). Q and D are plain text, ``{"text": "...", "images": ["a.png", ...]}`` or an
interleaved ``{"parts": [{"text": ...}, {"image": ...}]}`` (``Item.to_dict`` form). Relative image
paths are resolved against the jsonl file's folder (or ``image_root``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nyx.content import ImagePart, Item

logger = logging.getLogger(__name__)

#: One side of a pair as written in jsonl.
Side = str | dict[str, Any]


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise ImportError("training data loading needs the datasets package: "
                          "pip install 'nyx-retrieval[train]'") from exc
    return datasets


def canonical_side(side: Side, image_root: Path, where: str) -> dict[str, Any]:
    """The ``Item.to_dict`` form of one side, image paths made absolute."""
    if isinstance(side, str):
        if not side.strip():
            raise ValueError(f"{where}: empty text")
        return {"parts": [{"text": side}]}
    if not isinstance(side, dict):
        raise ValueError(f"{where}: expected text or an object with text/images/parts, got "
                         f"{type(side).__name__}")
    if "parts" in side:
        parts = [dict(p) for p in side["parts"]]
    else:
        unknown = set(side) - {"text", "images", "id"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; use text and images "
                             "(or parts for interleaved order)")
        parts = [{"text": side["text"]}] if str(side.get("text") or "").strip() else []
        parts += [{"image": ref} for ref in side.get("images") or []]
    for part in parts:
        if "image" in part and not Path(part["image"]).is_absolute():
            part["image"] = str(image_root / part["image"])
    if not parts:
        raise ValueError(f"{where}: no text and no images")
    return {"parts": parts}


def side_key(canonical: dict[str, Any]) -> int:
    """A stable 63-bit key of a side's content, used to spot duplicate documents in a batch."""
    digest = hashlib.sha1(json.dumps(canonical["parts"], sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def read_pairs(path: str | Path, image_root: str | Path | None = None,
               max_examples: int | None = None) -> Iterator[dict[str, Any]]:
    """Canonical records (sides as JSON strings) with every known positive key of their query."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training pairs not found: {path} (write jsonl lines "
                                '{"query": ..., "positive": ..., "negatives": [...]})')
    root = Path(image_root) if image_root else path.parent
    records = []
    positives_of: dict[str, set[int]] = defaultdict(set)
    with path.open() as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            if max_examples is not None and len(records) >= max_examples:
                break
            where = f"{path}:{line_no}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: invalid JSON ({exc.msg})") from exc
            if not isinstance(raw, dict) or "query" not in raw or "positive" not in raw:
                raise ValueError(f"{where}: each line needs 'query' and 'positive'")
            query = canonical_side(raw["query"], root, f"{where} query")
            positive = canonical_side(raw["positive"], root, f"{where} positive")
            negatives = [canonical_side(n, root, f"{where} negatives[{i}]")
                         for i, n in enumerate(raw.get("negatives") or [])]
            query_json = json.dumps(query, sort_keys=True)
            positives_of[query_json].add(side_key(positive))
            records.append((query_json, positive, negatives))
    for query_json, positive, negatives in records:
        yield {"query": query_json, "positive": json.dumps(positive),
               "negatives": [json.dumps(n) for n in negatives],
               "positive_keys": sorted(positives_of[query_json])}


def load_pairs(path: str | Path, image_root: str | Path | None = None,
               max_examples: int | None = None, cache_dir: str | Path | None = None) -> Any:
    """A ``datasets.Dataset`` of canonical pair records (cached as Arrow under ``cache_dir``)."""
    datasets = _import_datasets()
    path = Path(path)
    stat = path.stat() if path.is_file() else None
    features = datasets.Features({
        "query": datasets.Value("string"), "positive": datasets.Value("string"),
        "negatives": datasets.List(datasets.Value("string")),
        "positive_keys": datasets.List(datasets.Value("int64")),
    })
    # The file's size and mtime are generator arguments, so an edited file is re-read.
    fingerprint = (str(path.resolve()), stat.st_size if stat else 0, stat.st_mtime if stat else 0)
    return datasets.Dataset.from_generator(
        _generate, features=features, cache_dir=str(cache_dir) if cache_dir else None,
        gen_kwargs={"path": str(path), "image_root": str(image_root) if image_root else None,
                    "max_examples": max_examples, "fingerprint": fingerprint})


def _generate(path: str, image_root: str | None, max_examples: int | None,
              fingerprint: tuple[Any, ...]) -> Iterator[dict[str, Any]]:
    yield from read_pairs(path, image_root, max_examples)


def to_item(side_json: str) -> Item:
    data = json.loads(side_json)
    return Item.from_dict({"parts": data["parts"], "metadata": {}, "id": None})


@dataclass
class PairBatch:
    """``B`` queries and a pool of ``B + N`` documents: the positives, then hard negatives."""

    queries: list[Item]
    documents: list[Item]
    #: ``(B,)`` index of each query's positive in ``documents``.
    positives: torch.Tensor
    #: ``(B + N,)`` content keys of the documents.
    doc_keys: torch.Tensor
    #: ``(B, P)`` keys of every known positive of each query, ``-1`` padded.
    positive_keys: torch.Tensor

    def images(self) -> list[ImagePart]:
        return [p for item in (*self.queries, *self.documents) for p in item.images]


def collate_pairs(rows: Sequence[dict[str, Any]], hard_negatives: int) -> PairBatch:
    """Build a batch; each query contributes at most ``hard_negatives`` of its negatives.

    A listed negative that is in fact a known positive of the same query is skipped.
    """
    if hard_negatives < 0:
        raise ValueError(f"hard_negatives must be >= 0, got {hard_negatives}")
    queries = [to_item(r["query"]) for r in rows]
    positives = [json.loads(r["positive"]) for r in rows]
    negatives: list[dict[str, Any]] = []
    for row in rows:
        known = set(row["positive_keys"])
        chosen = [n for n in map(json.loads, row["negatives"]) if side_key(n) not in known]
        negatives.extend(chosen[:hard_negatives])
    docs = positives + negatives
    width = max(1, max(len(r["positive_keys"]) for r in rows))
    keys = torch.full((len(rows), width), -1, dtype=torch.long)
    for i, row in enumerate(rows):
        keys[i, :len(row["positive_keys"])] = torch.tensor(row["positive_keys"], dtype=torch.long)
    return PairBatch(
        queries=queries,
        documents=[Item.from_dict({"parts": d["parts"], "metadata": {}, "id": None})
                   for d in docs],
        positives=torch.arange(len(rows)),
        doc_keys=torch.tensor([side_key(d) for d in docs], dtype=torch.long),
        positive_keys=keys,
    )
