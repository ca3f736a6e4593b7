"""More question -> passage domains from the same ``bigbench`` 1.0.0 sdist as SQuAD-dev.

SQuAD-dev (Wikipedia) alone is one domain; a retrieval default tuned there can fail elsewhere.
The BIG-bench sdist ships more reading-comprehension sets, each turned into a retrieval view
the way :mod:`nyx.benchmarks.datasets.squad` does (the corpus is the passages, each question's own
passage is its one relevant document):

=========================  ====================================================  ============
name                       what                                                  licence
=========================  ====================================================  ============
``squad-shifts-amazon``    SQuAD-style questions on Amazon product reviews       CC BY 4.0
``squad-shifts-new-wiki``  SQuAD-style questions on newer Wikipedia articles     CC BY-SA 4.0
``coqa``                   CoQA's first question per story (turn 1, the only     see CoQA
                           one that stands alone); stories from children's
                           stories, literature, exams, science, Wikipedia
=========================  ====================================================  ============

Only the members listed in :data:`DOMAINS` (and SQuAD-dev) are ever extracted from the sdist:
the other parts of squad_shifts are held out for evaluation by others. CoQA's social-media and
news stories (:data:`COQA_EXCLUDED_SOURCES`) are left out too.

Files are extracted from the sdist once and cached (sha256-pinned); a download fetches the
members of every domain in one pass (see :func:`nyx.benchmarks.datasets.squad.fetch_squad_dev`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from nyx.benchmarks.datasets import squad
from nyx.benchmarks.datasets.base import (
    DatasetFormatError,
    DatasetUnavailableError,
    RetrievalDataset,
    check_limit,
    make_document,
    make_query,
)
from nyx.benchmarks.datasets.files import dataset_cache_dir, sha256_file
from nyx.benchmarks.datasets.pypi import extract_tar_members

logger = logging.getLogger(__name__)

__all__ = ["DOMAINS", "fetch_member", "load_coqa", "load_squad_shifts"]

_TASKS = "bigbench-1.0.0/bigbench/benchmark_tasks/"
#: data set name -> (member of the sdist, sha256 of the member)
DOMAINS: dict[str, tuple[str, str]] = {
    "squad-shifts-amazon": (
        _TASKS + "squad_shifts/amazon_reviews_v1.0.json",
        "3d3b16b874aefef754d04c1cbd64457b3a6456aa2e946a6132b8254c17e34c4a",
    ),
    "squad-shifts-new-wiki": (
        _TASKS + "squad_shifts/new_wiki_v1.0.json",
        "428104b87438d9059eb5df2883267cf9d30f6f4fcaed92e72107c8b913eaea40",
    ),
    "coqa": (
        _TASKS + "coqa_conversational_question_answering/coqa.test.json",
        "45626f049dc47248677ae43ee412fc3b8b8d1443323151fd6dc8d55c2188ff31",
    ),
}
#: CoQA story sources left out (social media and news, close to held-out evaluation domains)
COQA_EXCLUDED_SOURCES: frozenset[str] = frozenset({"reddit", "cnn"})
_LICENCES = {"squad-shifts-amazon": "CC BY 4.0", "squad-shifts-new-wiki": "CC BY-SA 4.0",
             "coqa": "CoQA (stories under their sources' licences)"}


def _target(name: str, cache_dir: str | os.PathLike[str] | None) -> Path:
    member = DOMAINS[name][0]
    return dataset_cache_dir(name, cache_dir) / Path(member).name


def sibling_targets(cache_dir: str | os.PathLike[str] | None,
                    with_squad: bool = False) -> dict[str, Path]:
    """member -> cache file for every domain not cached yet (to extract beside SQuAD-dev),
    plus SQuAD-dev itself when ``with_squad``."""
    targets = {DOMAINS[name][0]: _target(name, cache_dir) for name in DOMAINS}
    if with_squad:
        targets[squad.MEMBER] = dataset_cache_dir(squad.NAME, cache_dir) / squad.JSON_NAME
    return {member: path for member, path in targets.items() if not path.is_file()}


def fetch_member(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The verified JSON file of domain ``name``, extracted from the bigbench sdist once."""
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {name!r}: use one of {', '.join(DOMAINS)}")
    member, digest = DOMAINS[name]
    target = _target(name, cache_dir)
    if not target.is_file():
        sdists = [p for p in (target.parent / squad.SDIST_NAME,
                              target.parent.parent / squad.SDIST_NAME,
                              target.parent.parent / "squad-dev" / squad.SDIST_NAME)
                  if p.is_file()]
        if sdists:
            squad._verify(sdists[0], squad.SDIST_SHA256, "bigbench 1.0.0 sdist")
            extract_tar_members(sdists[0], sibling_targets(cache_dir, with_squad=True))
        else:
            sdist = squad._download_sdist(target.parent)
            try:
                extract_tar_members(sdist, sibling_targets(cache_dir, with_squad=True))
            finally:
                sdist.unlink(missing_ok=True)
    if not target.is_file():
        raise DatasetUnavailableError(f"the bigbench sdist has no {member}; {squad.MANUAL_HINT}")
    actual = sha256_file(target)
    if actual != digest:
        raise DatasetFormatError(f"{target} has sha256 {actual}, expected {digest}: delete it "
                                 "and load again")
    return target


def _read(name: str, cache_dir: str | os.PathLike[str] | None) -> tuple[Path, Any]:
    path = fetch_member(name, cache_dir)
    with open(path, encoding="utf-8") as handle:
        return path, json.load(handle)


def load_squad_shifts(domain: str, limit: int | None = None,
                      cache_dir: str | os.PathLike[str] | None = None) -> RetrievalDataset:
    """``squad-shifts-amazon`` or ``squad-shifts-new-wiki`` (SQuAD v1.1 format)."""
    check_limit(limit)
    name = f"squad-shifts-{domain}"
    path, data = _read(name, cache_dir)
    dataset = squad.build_squad_dataset(data, source=str(path))
    dataset.name = name
    dataset.metadata.update(source=f"PyPI sdist {squad.SDIST_NAME}: {DOMAINS[name][0]}",
                            sha256=DOMAINS[name][1], license=_LICENCES[name], path=str(path))
    return dataset.head(limit)


def load_amazon(limit: int | None = None,
                cache_dir: str | os.PathLike[str] | None = None) -> RetrievalDataset:
    return load_squad_shifts("amazon", limit, cache_dir)


def load_new_wiki(limit: int | None = None,
                  cache_dir: str | os.PathLike[str] | None = None) -> RetrievalDataset:
    return load_squad_shifts("new-wiki", limit, cache_dir)


def build_coqa_dataset(data: dict[str, Any], source: str = "coqa.test.json") -> RetrievalDataset:
    """CoQA stories as the corpus; each story's first question (with its answer) as a query."""
    corpus: dict[str, Any] = {}
    queries: dict[str, Any] = {}
    qrels: dict[str, dict[str, int]] = {}
    answers: dict[str, list[str]] = {}
    skipped = 0
    try:
        for story in data["data"]:
            if story["source"] in COQA_EXCLUDED_SOURCES:
                skipped += 1
                continue
            doc_id = str(story["id"])
            corpus[doc_id] = make_document(text=story["story"], title="")
            first = min(story["questions"], key=lambda q: q["turn_id"])
            qid = f"{doc_id}-1"
            queries[qid] = make_query(text=first["input_text"])
            qrels[qid] = {doc_id: 1}
            gold = [a["input_text"] for a in story["answers"] if a["turn_id"] == first["turn_id"]]
            for extra in story.get("additional_answers", {}).values():
                gold += [a["input_text"] for a in extra if a["turn_id"] == first["turn_id"]]
            answers[qid] = list(dict.fromkeys(gold))
    except (KeyError, TypeError, ValueError) as error:
        raise DatasetFormatError(f"{source} is not CoQA JSON (data -> story, questions): "
                                 f"missing {error}") from error
    return RetrievalDataset(name="coqa", corpus=corpus, queries=queries, qrels=qrels,
                            answers=answers,
                            metadata={"source": f"PyPI sdist {squad.SDIST_NAME}: "
                                                f"{DOMAINS['coqa'][0]}",
                                      "sha256": DOMAINS["coqa"][1],
                                      "excluded_sources": sorted(COQA_EXCLUDED_SOURCES),
                                      "excluded_stories": skipped,
                                      "license": _LICENCES["coqa"]})


def load_coqa(limit: int | None = None,
              cache_dir: str | os.PathLike[str] | None = None) -> RetrievalDataset:
    """CoQA (test = official dev) as a retrieval set: 500 stories, 500 first questions."""
    check_limit(limit)
    path, data = _read("coqa", cache_dir)
    dataset = build_coqa_dataset(data, source=str(path))
    dataset.metadata["path"] = str(path)
    return dataset.head(limit)
