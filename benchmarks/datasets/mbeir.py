"""M-BEIR-style mixed-modal retrieval files (UniIR, TIGER-Lab/M-BEIR).

Accepted files (JSON Lines), with the M-BEIR field names:

query file (``mbeir:PATH``), one query per line::

    {"qid": "9:1", "query_txt": "a dog on a beach" | null,
     "query_img_path": "mbeir_images/.../x.jpg" | null, "query_modality": "text",
     "pos_cand_list": ["9:4", ...], "neg_cand_list": [...], "task_id": 0}

candidate pool (``cand_pool=PATH``, required), one candidate per line::

    {"did": "9:4", "txt": "..." | null, "img_path": "..." | null, "modality": "image"}

qrels (``qrels=PATH``, optional), whitespace-separated M-BEIR/TREC lines
``qid 0 did relevance [task_id]``; when given they replace ``pos_cand_list``, which otherwise
supplies the judgements (grade 1 each; entries may be did strings or ``{"did": ...}`` objects).
``neg_cand_list`` (hard negatives for training) is ignored. ``query_src_content`` /
``src_content`` are ignored.

Image paths are relative to the M-BEIR root (the folder holding ``mbeir_images/``): pass
``image_root=ROOT``. Without it the loader tries the query file's folder and up to three of its
parents, keeping the first where a referenced image exists (else the query file's folder, with
a warning). A query needs text or an image; a candidate too.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
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

__all__ = ["guess_image_root", "load_mbeir", "read_mbeir_qrels"]


def _text(record: dict[str, Any], key: str, path: Path, line_no: int) -> str:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise DatasetFormatError(f"{path}:{line_no}: {key!r} must be a string or null")
    return value or ""


def _positives(value: Any, path: Path, line_no: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DatasetFormatError(f"{path}:{line_no}: 'pos_cand_list' must be a list")
    dids = []
    for entry in value:
        did = entry.get("did") if isinstance(entry, dict) else entry
        if not isinstance(did, (str, int)):
            raise DatasetFormatError(f"{path}:{line_no}: bad pos_cand_list entry {entry!r}")
        dids.append(str(did))
    return dids


def read_mbeir_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Parse ``qid 0 did relevance [task_id]`` lines (whitespace-separated)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in (4, 5):
                raise DatasetFormatError(
                    f"{path}:{line_no}: expected 'qid 0 did relevance [task_id]', got {line!r}"
                )
            try:
                grade = int(fields[3])
            except ValueError:
                raise DatasetFormatError(
                    f"{path}:{line_no}: relevance {fields[3]!r} is not an integer"
                ) from None
            qrels.setdefault(fields[0], {})[fields[2]] = grade
    return qrels


def guess_image_root(query_path: Path, sample: str | None) -> Path:
    """The folder that makes ``sample`` (a relative image path) exist, else the query folder."""
    if sample and not Path(sample).is_absolute():
        for folder in [query_path.parent, *query_path.parent.parents][:4]:
            if (folder / sample).exists():
                return folder
        logger.warning(
            "image %s not found under %s or its parents; pass image_root=...",
            sample,
            query_path.parent,
        )
    return query_path.parent


def load_mbeir(
    path: str | os.PathLike[str],
    cand_pool: str | os.PathLike[str] | None = None,
    qrels: str | os.PathLike[str] | None = None,
    image_root: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> RetrievalDataset:
    """Load an M-BEIR query file with its candidate pool (``limit``: first queries)."""
    check_limit(limit)
    query_path = require_file(Path(path).expanduser(), "M-BEIR query file")
    if cand_pool is None:
        raise ValueError(
            f"M-BEIR queries {query_path} need their candidate pool: pass cand_pool=PATH "
            "(an mbeir_*_cand_pool.jsonl)"
        )
    pool_path = require_file(Path(cand_pool).expanduser(), "M-BEIR candidate pool")
    records = list(iter_jsonl(query_path))
    sample = next((r.get("query_img_path") for _, r in records if r.get("query_img_path")), None)
    root = Path(image_root).expanduser() if image_root else guess_image_root(query_path, sample)

    queries: dict[str, Query] = {}
    judged: dict[str, dict[str, int]] = {}
    modalities: Counter[str] = Counter()
    for line_no, record in records:
        qid = str(require_key(record, ("qid",), query_path, line_no))
        if qid in queries:
            raise DatasetFormatError(f"{query_path}:{line_no}: duplicate qid {qid!r}")
        text = _text(record, "query_txt", query_path, line_no)
        image = resolve_path(record.get("query_img_path"), root)
        if not (text or image):
            raise DatasetFormatError(
                f"{query_path}:{line_no}: query has neither 'query_txt' nor 'query_img_path'"
            )
        queries[qid] = make_query(text, image)
        modalities[str(record.get("query_modality", "text" if not image else "image"))] += 1
        positives = _positives(record.get("pos_cand_list"), query_path, line_no)
        if positives:
            judged[qid] = dict.fromkeys(positives, 1)

    corpus: dict[str, CorpusEntry] = {}
    for line_no, record in tqdm(
        iter_jsonl(pool_path), desc=f"reading {pool_path.name}", unit=" docs", leave=False
    ):
        did = str(require_key(record, ("did",), pool_path, line_no))
        if did in corpus:
            raise DatasetFormatError(f"{pool_path}:{line_no}: duplicate did {did!r}")
        text = _text(record, "txt", pool_path, line_no)
        image = resolve_path(record.get("img_path"), root)
        if not (text or image):
            raise DatasetFormatError(f"{pool_path}:{line_no}: candidate has neither txt nor img")
        corpus[did] = make_document(text=text, image=image)

    if qrels is not None:
        qrels_path = require_file(Path(qrels).expanduser(), "M-BEIR qrels")
        judged = {q: r for q, r in read_mbeir_qrels(qrels_path).items() if q in queries}
    dataset = RetrievalDataset(
        name=f"mbeir:{query_path}",
        corpus=corpus,
        queries=queries,
        qrels=judged,
        metadata={
            "source": str(query_path),
            "format": "mbeir",
            "cand_pool": str(pool_path),
            "image_root": str(root),
            "query_modalities": dict(modalities),
        },
    )
    dataset.validate()
    return dataset.head(limit)
