"""The abstract vector index every backend implements, plus shared input validation."""

from __future__ import annotations

import abc
import dataclasses
import json
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from .filters import Filter, FilterLike

logger = logging.getLogger(__name__)

__all__ = ["INDEX_CONFIG_FILENAME", "Hit", "VectorIndex", "check_ids", "check_vectors"]

INDEX_CONFIG_FILENAME = "index.json"


@dataclass(frozen=True)
class Hit:
    """One search result: a document id and its inner-product score (higher is better)."""

    id: str
    score: float


def check_ids(ids: Sequence[str], *, what: str = "ids") -> list[str]:
    """Validate a batch of string ids: all str, non-empty, no duplicates."""
    if isinstance(ids, (str, bytes)):
        raise ValueError(f"{what} must be a sequence of strings, got the single string {ids!r}")
    checked = list(ids)
    for item in checked:
        if not isinstance(item, str) or not item:
            raise ValueError(f"{what} must be non-empty strings, got {item!r}; convert with str()")
    if len(set(checked)) != len(checked):
        dupes = sorted(item for item, n in Counter(checked).items() if n > 1)
        raise ValueError(
            f"{what} contain duplicates {dupes[:5]}; each id may appear once per batch"
        )
    return checked


def check_vectors(vectors: Any, dim: int, *, what: str = "vectors") -> np.ndarray:
    """Return `vectors` as a C-contiguous float32 (n, dim) array, or raise ValueError."""
    array = np.asarray(vectors)
    if array.ndim == 1 and what == "queries":
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (n, {dim}), got shape {array.shape}")
    if array.shape[1] != dim:
        raise ValueError(
            f"{what} have dimension {array.shape[1]} but the index has dim={dim}; "
            "use the same encoder that built the index"
        )
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{what} must be numeric, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise ValueError(f"{what} row {bad} contains NaN or inf; fix the encoder output")
    return array


def check_metadata(metadata: Sequence[Mapping[str, Any]] | None, n: int) -> list[dict[str, Any]]:
    """Validate per-vector metadata; None means an empty dict for every vector."""
    if metadata is None:
        return [{} for _ in range(n)]
    items = list(metadata)
    if len(items) != n:
        raise ValueError(f"got {len(items)} metadata dicts for {n} ids; pass one per id or None")
    checked = []
    for position, item in enumerate(items):
        if item is None:
            checked.append({})
            continue
        if not isinstance(item, Mapping):
            raise ValueError(f"metadata[{position}] must be a dict, got {type(item).__name__}")
        bad_keys = [key for key in item if not isinstance(key, str)]
        if bad_keys:
            raise ValueError(f"metadata[{position}] has non-string keys {bad_keys[:3]}")
        try:
            json.dumps(item, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"metadata[{position}] is not JSON-serialisable ({exc}); use str, int, float, "
                "bool, lists and dicts of them"
            ) from exc
        checked.append(dict(item))
    return checked


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


class VectorIndex(abc.ABC):
    """An inner-product vector index keyed by string ids, with per-id metadata.

    Vectors are expected to be L2-normalised by the caller, so inner product equals
    cosine similarity. `upsert` replaces ids that already exist (vector and metadata);
    `search` returns, for each query, up to `k` hits sorted by descending score, and
    with a filter returns `k` hits whenever at least `k` documents match it.
    """

    backend_name: ClassVar[str]
    #: Whether the index can hold a sparse BM25 vector per document beside its dense ones
    #: (Qdrant collections created with ``sparse=True``); see :mod:`nyx.indexes.qdrant_hybrid`.
    supports_sparse: bool = False
    #: The average document length the stored sparse vectors were computed with (``None``:
    #: none written yet); their writer records it.
    sparse_avgdl: float | None = None

    @property
    def sparse_fusion(self) -> str | None:
        """How the index serves hybrid (dense + sparse BM25) search itself: ``"exact"``
        (both rankings, fused by the caller) or a fusion it runs (``"formula"``, ``"rrf"``,
        ``"dbsf"``); ``None`` when BM25 stays with the caller's lexical index."""
        return None

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Vector dimension."""

    @property
    def params(self) -> dict[str, Any]:
        """Backend parameters worth recording in a manifest (JSON-serialisable)."""
        return {}

    @abc.abstractmethod
    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Insert or replace vectors (float32, shape (n, dim)) and their metadata."""

    @abc.abstractmethod
    def delete(self, ids: Sequence[str]) -> int:
        """Remove ids; unknown ids are ignored. Returns how many were removed."""

    @abc.abstractmethod
    def search(self, queries: np.ndarray, k: int, filter: FilterLike = None) -> list[list[Hit]]:
        """Top-`k` hits per query row (shape (m, dim)), best first."""

    def search_pairs(self, queries: np.ndarray, k: int,
                     filter: FilterLike = None) -> list[list[tuple[str, float]]]:
        """:meth:`search` as ``(id, score)`` pairs: the same hits, in the same order, without
        a :class:`Hit` object each (the retriever ranks hundreds of candidates per query). A
        backend that can should override it and build :meth:`search` on it."""
        return [[(h.id, h.score) for h in hits] for hits in self.search(queries, k, filter)]

    @abc.abstractmethod
    def count(self) -> int:
        """Number of live vectors."""

    @abc.abstractmethod
    def ids(self) -> list[str]:
        """All live ids, sorted."""

    @abc.abstractmethod
    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors for `ids` in order, shape (n, dim); KeyError for unknown ids."""

    @abc.abstractmethod
    def get_metadata(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """Stored metadata for `ids` in order; None for unknown ids."""

    @abc.abstractmethod
    def save(self, path: str | os.PathLike[str]) -> None:
        """Persist the index into folder `path` (created if missing), atomically."""

    @classmethod
    @abc.abstractmethod
    def load(cls, path: str | os.PathLike[str], **overrides: Any) -> VectorIndex:
        """Open an index saved with `save`."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources (files, clients). The index is unusable afterwards."""

    def defer_adds(self, folder: str | os.PathLike[str]) -> None:  # noqa: B027 - optional
        """Let upserts go to scratch files in `folder` until the index is next read (see
        `FaissIndex.defer_adds`); backends that build nothing in memory ignore it."""

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and self.get_metadata([id])[0] is not None

    def __len__(self) -> int:
        return self.count()

    def __enter__(self) -> VectorIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Helpers shared by backends -------------------------------------------------------

    def _prepare_upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, Any]] | None,
    ) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        checked_ids = check_ids(ids)
        array = check_vectors(vectors, self.dim)
        if array.shape[0] != len(checked_ids):
            raise ValueError(
                f"got {len(checked_ids)} ids but {array.shape[0]} vectors; pass one vector per id"
            )
        return checked_ids, array, check_metadata(metadata, len(checked_ids))

    def _prepare_search(
        self, queries: np.ndarray, k: int, filter: FilterLike
    ) -> tuple[np.ndarray, int, Filter | None]:
        return check_vectors(queries, self.dim, what="queries"), check_k(k), Filter.coerce(filter)


def config_path(path: str | os.PathLike[str]) -> Path:
    """Location of the backend config file inside a saved index folder."""
    return Path(path) / INDEX_CONFIG_FILENAME


def check_dim(dim: Any) -> int:
    """Validate a vector dimension."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    return int(dim)


def read_index_config(
    path: str | os.PathLike[str], backend: str, format_version: int
) -> dict[str, Any]:
    """Read and check `index.json` of a folder written by the `backend` backend."""
    file = config_path(path)
    try:
        state: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no saved index at {path} ({file.name} missing); build the index first or pass "
            "the folder that save() wrote"
        ) from None
    if state.get("backend") != backend:
        raise ValueError(
            f"{path} holds a {state.get('backend')!r} index, not {backend!r}; "
            "open it with nyx.indexes.load_index()"
        )
    if int(state.get("format_version", 0)) > format_version:
        raise ValueError(
            f"{path} was saved in format {state['format_version']} by a newer Nyx; upgrade Nyx"
        )
    return state


def merge_overrides(
    config_cls: type, saved: Mapping[str, Any], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """Saved config values updated with load-time overrides, rejecting unknown names."""
    unknown = set(overrides) - {f.name for f in dataclasses.fields(config_cls)}
    if unknown:
        raise ValueError(
            f"unknown {config_cls.__name__} parameters {sorted(unknown)}; "
            f"valid ones are {[f.name for f in dataclasses.fields(config_cls)]}"
        )
    return {**saved, **overrides}


def named_data_file(folder: Path, name: Any, pattern: str) -> Path:
    """The data file ``name`` that an ``index.json`` in ``folder`` names, checked before use: a
    plain file name matching ``pattern`` (``vectors-*.faiss``), a regular file inside the folder
    (no symlink, device or FIFO). A config naming anything else is damage, reported without
    reading the file it names."""
    import fnmatch
    import stat

    if (not isinstance(name, str) or not fnmatch.fnmatchcase(name, pattern)
            or "/" in name or "\\" in name or name in (".", "..")):
        raise ValueError(f"{config_path(folder)} names {str(name)[:80]!r} as a data file; "
                         f"expected a file name like {pattern!r} inside the folder: the index "
                         "is damaged or was tampered with (rebuild it)")
    path = folder / name
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: the index is damaged (rebuild it)") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path} is not a regular file: the index is damaged or was tampered "
                         "with (rebuild it)")
    return path


def remove_stale_files(folder: Path, patterns: Sequence[str], keep: set[str]) -> None:
    """Delete files matching `patterns` in `folder` except those named in `keep`."""
    for pattern in patterns:
        for old in folder.glob(pattern):
            if old.name not in keep:
                old.unlink(missing_ok=True)
