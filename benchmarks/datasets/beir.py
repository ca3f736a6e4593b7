"""BEIR-format folders: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

Accepted layout (the one ``beir.datasets.data_loader.GenericDataLoader`` reads)::

    FOLDER/corpus.jsonl      {"_id": "d1", "title": "...", "text": "..."}   one per line
    FOLDER/queries.jsonl     {"_id": "q1", "text": "..."}
    FOLDER/qrels/test.tsv    query-id <TAB> corpus-id <TAB> score         with a header line

As in BEIR, only queries that appear in the split's qrels are kept (in ``queries.jsonl``
order), and qrels keep grade-0 rows (judged non-relevant). A header line is recognised by a
non-integer score column. Qrels naming unknown queries are dropped with a warning; judged doc
ids missing from the corpus are kept (no run can find them) and reported by
:meth:`RetrievalDataset.validate`. As an extension for mixed-modal data, a corpus or query line
may carry ``"image": "relative/or/absolute/path.png"`` (relative to FOLDER); text may then be
empty. Malformed lines raise :class:`DatasetFormatError` naming the file and line.
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
from nyx.benchmarks.datasets.files import (
    iter_jsonl,
    iter_tsv,
    require_file,
    require_key,
    resolve_path,
)

logger = logging.getLogger(__name__)

__all__ = ["load_beir", "read_beir_qrels"]

LAYOUT_HINT = "a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv"


def _text_fields(record: dict[str, Any], path: Path, line_no: int) -> tuple[str, str]:
    text, title = record.get("text", ""), record.get("title", "")
    if not isinstance(text, str) or not isinstance(title, str):
        raise DatasetFormatError(f"{path}:{line_no}: 'text' and 'title' must be strings")
    if not (text or title or record.get("image")):
        raise DatasetFormatError(f"{path}:{line_no}: record has no 'text', 'title' or 'image'")
    return text, title


def _read_records(path: Path, what: str) -> dict[str, tuple[int, dict[str, Any]]]:
    records: dict[str, tuple[int, dict[str, Any]]] = {}
    for line_no, record in tqdm(
        iter_jsonl(path), desc=f"reading {path.name}", unit=" lines", leave=False
    ):
        key = str(require_key(record, ("_id",), path, line_no))
        if key in records:
            raise DatasetFormatError(
                f"{path}:{line_no}: duplicate {what} id {key!r} (first on line {records[key][0]})"
            )
        records[key] = (line_no, record)
    return records


def read_beir_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Parse a BEIR qrels TSV (``query-id, corpus-id, score``; header optional)."""
    qrels: dict[str, dict[str, int]] = {}
    for line_no, row in iter_tsv(path, header=False):
        if len(row) != 3:
            raise DatasetFormatError(
                f"{path}:{line_no}: expected 3 tab-separated columns "
                f"(query-id, corpus-id, score), got {len(row)}: {row!r}"
            )
        qid, doc_id, score = (field.strip() for field in row)
        try:
            grade = int(score)
        except ValueError:
            if line_no == 1:
                continue  # the header line
            raise DatasetFormatError(
                f"{path}:{line_no}: score {score!r} is not an integer relevance grade"
            ) from None
        qrels.setdefault(qid, {})[doc_id] = grade
    return qrels


def load_beir(
    path: str | os.PathLike[str],
    split: str = "test",
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> RetrievalDataset:
    """Load a BEIR folder; ``limit`` keeps the first judged queries, ``cache_dir`` is unused."""
    check_limit(limit)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"BEIR folder not found: {folder}; {LAYOUT_HINT}")
    corpus_path = require_file(folder / "corpus.jsonl", "BEIR corpus", LAYOUT_HINT)
    queries_path = require_file(folder / "queries.jsonl", "BEIR queries", LAYOUT_HINT)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise FileNotFoundError(
            f"BEIR qrels not found: {qrels_path}; available splits: {splits or 'none'} "
            "(pass split=...)"
        )

    corpus: dict[str, CorpusEntry] = {}
    for doc_id, (line_no, record) in _read_records(corpus_path, "document").items():
        text, title = _text_fields(record, corpus_path, line_no)
        corpus[doc_id] = make_document(text, title, resolve_path(record.get("image"), folder))

    qrels = read_beir_qrels(qrels_path)
    queries: dict[str, Query] = {}
    for qid, (line_no, record) in _read_records(queries_path, "query").items():
        if qid in qrels:
            text, _ = _text_fields(record, queries_path, line_no)
            queries[qid] = make_query(text, resolve_path(record.get("image"), folder))
    unknown = [qid for qid in qrels if qid not in queries]
    if unknown:
        logger.warning(
            "%s: %d qrels query ids are not in %s (dropped), e.g. %s",
            qrels_path,
            len(unknown),
            queries_path.name,
            unknown[:3],
        )
    dataset = RetrievalDataset(
        name=f"beir:{folder}",
        corpus=corpus,
        queries=queries,
        qrels={qid: qrels[qid] for qid in queries},
        metadata={"source": str(folder), "format": "beir", "split": split},
    )
    dataset.validate()
    return dataset.head(limit)
