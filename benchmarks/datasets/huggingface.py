"""``hf:NAME[:CONFIG]`` - QA data sets through the Hugging Face ``datasets`` library.

The hub is unreachable from the machines this project runs on, and ``datasets`` retries for
~25 s before giving up, so the loader first probes the hub endpoint (``$HF_ENDPOINT``, default
``https://huggingface.co``) with a short timeout (``timeout_s``, default 5 s) and fails fast
with :class:`DatasetUnavailableError` when it cannot be reached. With ``HF_HUB_OFFLINE=1`` or
``HF_DATASETS_OFFLINE=1`` set, the probe is skipped and ``datasets`` reads its local cache.

Rows are mapped by column name (first match wins):

* id: ``id``, ``_id``, ``qid``, ``query_id`` (else the row number);
* question: ``question``, ``query``, ``text``;
* answers: ``golden_answers``, ``answers``, ``answer`` - a string, a list, or SQuAD's
  ``{"text": [...], ...}``;
* passage (optional): ``context``, ``passage``, ``document`` with ``title``. Distinct passages
  become the corpus (``doc-0``, ``doc-1``, ... in order of first use) and each question's
  passage its one relevant document, as for ``squad-dev``. Without a passage column the corpus
  and qrels are empty.

Image columns are not mapped; use an ``mbeir:`` file for mixed-modal data.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from nyx.benchmarks.datasets.base import (
    DatasetFormatError,
    DatasetUnavailableError,
    RetrievalDataset,
    check_limit,
    make_document,
    make_query,
)

logger = logging.getLogger(__name__)

__all__ = ["check_hub_reachable", "load_hf", "rows_to_dataset"]

DEFAULT_ENDPOINT = "https://huggingface.co"
SPLIT_PREFERENCE = ("test", "validation", "dev", "train")
ID_COLUMNS = ("id", "_id", "qid", "query_id")
QUESTION_COLUMNS = ("question", "query", "text")
ANSWER_COLUMNS = ("golden_answers", "answers", "answer")
PASSAGE_COLUMNS = ("context", "passage", "document")
OFFLINE_HINT = (
    "this machine may be offline. Load a local copy instead (beir:FOLDER, flashrag:FILE.jsonl, "
    "mbeir:FILE.jsonl), or, if the data set is already in the Hugging Face cache, set "
    "HF_HUB_OFFLINE=1 and HF_DATASETS_OFFLINE=1"
)
OFFLINE_CACHE_HINT = (
    "HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set, so only the local Hugging Face cache is read "
    "and the data set is not in it. Unset it on a machine that reaches the hub, or load a local "
    "copy instead (beir:FOLDER, flashrag:FILE.jsonl, mbeir:FILE.jsonl)"
)


def _offline() -> bool:
    flags = (os.environ.get(v, "") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return any(flag.strip().lower() in ("1", "true", "yes", "on") for flag in flags)


def check_hub_reachable(endpoint: str | None = None, timeout_s: float = 5.0) -> None:
    """Raise :class:`DatasetUnavailableError` unless ``endpoint`` answers within ``timeout_s``.

    Any HTTP answer counts as reachable. The request runs in a daemon thread joined with the
    timeout, so a hanging DNS lookup cannot stall the caller.
    """
    url = endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    failure: list[str] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s)
        except urllib.error.HTTPError:
            pass  # the server answered
        except (urllib.error.URLError, OSError, ValueError) as error:
            failure.append(str(getattr(error, "reason", error)))

    thread = threading.Thread(target=probe, name="nyx-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        failure.append(f"no answer within {timeout_s:g} s")
    if failure:
        raise DatasetUnavailableError(
            f"cannot reach the Hugging Face hub at {url} ({failure[0]}); {OFFLINE_HINT}"
        )


def _first(row: Mapping[str, Any], columns: tuple[str, ...]) -> tuple[str | None, Any]:
    for column in columns:
        if column in row and row[column] is not None:
            return column, row[column]
    return None, None


def _as_answers(value: Any) -> list[str]:
    if isinstance(value, Mapping):  # SQuAD: {"text": [...], "answer_start": [...]}
        value = value.get("text", [])
    if isinstance(value, (str, int, float)):
        value = [value]
    return list(dict.fromkeys(str(v) for v in value if str(v).strip()))


def rows_to_dataset(rows: Iterable[Mapping[str, Any]], name: str) -> RetrievalDataset:
    """Map QA rows (see the module docstring) to a :class:`RetrievalDataset`."""
    corpus: dict[str, Any] = {}
    doc_of_passage: dict[tuple[str, str], str] = {}
    queries: dict[str, Any] = {}
    qrels: dict[str, dict[str, int]] = {}
    answers: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        question_column, question = _first(row, QUESTION_COLUMNS)
        if question_column is None:
            raise DatasetFormatError(
                f"{name} row {index}: no question column (looked for {QUESTION_COLUMNS}; "
                f"columns are {sorted(row)})"
            )
        _, raw_id = _first(row, ID_COLUMNS)
        qid = str(raw_id) if raw_id is not None else str(index)
        if qid in queries:
            raise DatasetFormatError(f"{name} row {index}: duplicate question id {qid!r}")
        queries[qid] = make_query(text=str(question))
        _, raw_answers = _first(row, ANSWER_COLUMNS)
        if raw_answers is not None and _as_answers(raw_answers):
            answers[qid] = _as_answers(raw_answers)
        _, passage = _first(row, PASSAGE_COLUMNS)
        if passage:
            title = str(row.get("title") or "")
            key = (title, str(passage))
            if key not in doc_of_passage:
                doc_of_passage[key] = f"doc-{len(doc_of_passage)}"
                corpus[doc_of_passage[key]] = make_document(text=str(passage), title=title)
            qrels[qid] = {doc_of_passage[key]: 1}
    return RetrievalDataset(
        name=name,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        answers=answers,
        metadata={"source": name, "format": "huggingface"},
    )


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as error:
        raise DatasetUnavailableError(
            "hf: data sets need the Hugging Face datasets library: `pip install datasets` "
            "(or the extra `pip install nyx-retrieval[train]`)"
        ) from error
    return datasets


def load_hf(
    spec: str,
    split: str | None = None,
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    timeout_s: float = 5.0,
) -> RetrievalDataset:
    """Load ``NAME[:CONFIG]`` from the hub; ``split`` defaults to the first of test/validation/
    dev/train present. ``cache_dir`` is passed to ``datasets`` as its cache folder."""
    check_limit(limit)
    repo, _, config = spec.partition(":")
    if not repo:
        raise ValueError(f"hf: needs a data set name, e.g. hf:rajpurkar/squad; got {spec!r}")
    if not _offline():
        check_hub_reachable(timeout_s=timeout_s)
    datasets = _import_datasets()
    kwargs: dict[str, Any] = {"cache_dir": str(cache_dir) if cache_dir else None}
    try:
        loaded = datasets.load_dataset(repo, config or None, split=split, **kwargs)
    except (ConnectionError, OSError) as error:
        hint = OFFLINE_CACHE_HINT if _offline() else OFFLINE_HINT
        raise DatasetUnavailableError(f"could not load hf:{spec}: {error}; {hint}") from error
    if split is None:
        available = list(loaded)
        chosen = next((s for s in SPLIT_PREFERENCE if s in available), available[0])
        logger.info("hf:%s: using split %r of %s", spec, chosen, available)
        loaded, split = loaded[chosen], chosen
    rows = loaded.select(range(min(limit, len(loaded)))) if limit else loaded
    dataset = rows_to_dataset(rows, name=f"hf:{spec}")
    dataset.metadata["split"] = split
    return dataset
