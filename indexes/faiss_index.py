"""FAISS backend (the default): exact flat, HNSW or IVF-PQ inner-product search.

Every stored vector gets an int64 *label*, drawn from a counter that never goes back,
so labels are never reused and survive deletes, re-upserts and save/load. A replaced
vector gets a fresh label. Flat and IVF-PQ remove vectors for real; HNSW graphs cannot,
so deleted labels become tombstones that searches exclude through an IDSelector, and
the graph is rebuilt once tombstones exceed `rebuild_ratio` of it.

Filtered search computes the matching labels from the metadata kept here, then either
scores them exactly (few matches) or searches with an `IDSelectorBatch`; any query for
which the approximate search came back short is redone exactly, so `k` hits come back
whenever `k` documents match.

A search of fewer than ``SINGLE_THREAD_QUERIES`` queries runs on one OpenMP thread: FAISS
scores a few queries on one thread anyway, and waking a second one that the encoder's
onnxruntime threads (or anything else on a small machine) hold costs more than the search.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, ClassVar

import faiss
import numpy as np

from .atomic import atomic_write_json, atomic_write_stream
from .base import (
    Hit,
    VectorIndex,
    check_dim,
    check_vectors,
    config_path,
    merge_overrides,
    named_data_file,
    read_index_config,
    remove_stale_files,
)
from .faiss_config import FaissConfig, build_ivfpq, build_structure, gpu_available
from .filters import Filter, FilterLike
from .spill import VectorSpill

logger = logging.getLogger(__name__)

__all__ = ["FaissConfig", "FaissIndex"]

_FORMAT_VERSION = 1
_MAX_WIDEN = 64
_MAX_FILTER_EF = 2048
_MAX_GPU_K = 2048  # faiss GPU search supports k up to 2048
#: Searches of fewer queries run on one OpenMP thread. Measured on a 2-core VM while another
#: job used both cores (``nyx-bench query-batching`` timings, flat index): one query against
#: 2,561 vectors took 0.58 ms p50 on one thread and 13.5 ms on two, against 200,000 vectors
#: 25-33 ms against 101-109 ms; 8 queries against 200,000 cost the same either way.
SINGLE_THREAD_QUERIES = 16


@contextmanager
def _omp_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` OpenMP threads in this thread (FAISS's setting is the calling
    thread's own, so concurrent searches in other threads are not affected)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row top-k (descending) of a score matrix: (values, column indices)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part_scores, order, axis=1), np.take_along_axis(part, order, axis=1)


class FaissIndex(VectorIndex):
    """Inner-product FAISS index with string ids, metadata and filtered search."""

    backend_name: ClassVar[str] = "faiss"

    def __init__(self, dim: int, config: FaissConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise ValueError("pass either config= or keyword parameters, not both")
        self._dim = check_dim(dim)
        self.config = config or FaissConfig(**params)
        self._kind: str = "flat" if self.config.kind == "auto" else self.config.kind
        self._label_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._metadata: dict[int, dict[str, Any]] = {}
        self._tombstones: set[int] = set()
        self._next_label = 0
        self._ivf_params: dict[str, int] = {}
        self._spill: VectorSpill | None = None  # see defer_adds
        self._structure: Any = None
        self._index = (
            None if self._kind == "ivfpq" else build_structure(self._kind, self._dim, self.config)
        )
        if self.config.use_gpu and not gpu_available():
            raise ValueError(
                "use_gpu=True but faiss sees no GPU here; install faiss-gpu on a CUDA machine "
                "or leave use_gpu unset"
            )
        self._use_gpu = self.config.use_gpu if self.config.use_gpu is not None else gpu_available()
        self._gpu: tuple[Any, Any, np.ndarray] | None = None  # (resources, index, labels)

    # Properties ------------------------------------------------------------------------

    @property
    def _index(self) -> Any:
        """The faiss structure, with any spilled vectors added first (see `defer_adds`)."""
        if self._spill is not None and len(self._spill):
            self._flush_spill()
        return self._structure

    @_index.setter
    def _index(self, structure: Any) -> None:
        self._structure = structure

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def kind(self) -> str:
        """The structure in use: "flat", "hnsw" or "ivfpq" (what "auto" resolved to)."""
        return self._kind

    @property
    def params(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self.config), "resolved_kind": self._kind, **self._ivf_params}

    @property
    def tombstone_count(self) -> int:
        return len(self._tombstones)

    def labels(self, ids: Sequence[str]) -> list[int | None]:
        """The int64 faiss labels of `ids` (None for unknown ids)."""
        return [self._label_of.get(i) for i in ids]

    # Building --------------------------------------------------------------------------

    def train(self, sample: np.ndarray) -> None:
        """Train an empty ivfpq index on `sample` (other kinds need no training)."""
        if self._kind != "ivfpq":
            return
        if self._index is not None and self._index.is_trained:
            raise ValueError("this ivfpq index is already trained; create a new one to retrain")
        array = check_vectors(sample, self._dim, what="training sample")
        index, nlist, pq_m = build_ivfpq(self._dim, self.config, array.shape[0])
        self._ivf_params = {"resolved_nlist": nlist, "resolved_pq_m": pq_m}
        logger.info("training ivfpq on %d vectors", array.shape[0])
        index.train(array)
        self._index = index

    def _reconstruct(self, labels: np.ndarray) -> np.ndarray:
        if labels.size == 0:
            return np.empty((0, self._dim), dtype=np.float32)
        return np.asarray(self._index.reconstruct_batch(labels), dtype=np.float32)

    def _live_labels(self) -> np.ndarray:
        return np.fromiter(self._id_of.keys(), dtype=np.int64, count=len(self._id_of))

    def _rebuild_hnsw(self, reason: str) -> None:
        labels = self._live_labels()
        vectors = self._reconstruct(labels) if self._index is not None else None
        logger.info("rebuilding HNSW over %d vectors (%s)", labels.size, reason)
        index = build_structure("hnsw", self._dim, self.config)
        if labels.size:
            index.add_with_ids(vectors, labels)
        self._index, self._kind = index, "hnsw"
        self._tombstones.clear()

    def defer_adds(self, folder: str | os.PathLike[str]) -> None:
        """Append new vectors to a spill file in `folder` until something reads the index.

        For builds: the faiss structure is then built once, from the file, by the first
        search, delete or `save`, so a build holds no vector twice (and "auto" goes straight
        to HNSW when the total passes its threshold). A flat index comes out identical to one
        added to directly; IVF-PQ trains on its first batch and never defers.
        """
        if self._kind == "ivfpq" or self._spill is not None:
            return
        self._spill = VectorSpill(Path(folder) / "vectors.f32", self._dim)

    def _flush_spill(self) -> None:
        spill = self._spill
        assert spill is not None
        if self._should_switch_to_hnsw() and self._structure.ntotal == 0:
            # nothing to carry over: build the graph directly, not a flat index first
            self._structure, self._kind = build_structure("hnsw", self._dim, self.config), "hnsw"
        logger.info("adding %d deferred vectors to the FAISS %s index", len(spill), self._kind)
        for vectors, labels in spill.drain():
            self._structure.add_with_ids(vectors, labels)
        self._gpu = None
        if self._should_switch_to_hnsw():
            self._rebuild_hnsw(f"auto: more than {self.config.auto_threshold} vectors")

    # Mutation --------------------------------------------------------------------------

    def _remove_labels(self, labels: list[int]) -> None:
        for label in labels:
            del self._label_of[self._id_of.pop(label)]
            del self._metadata[label]
        if not labels:
            return
        self._gpu = None
        if self._kind == "hnsw":
            self._tombstones.update(labels)
        else:
            selector = faiss.IDSelectorArray(np.asarray(labels, dtype=np.int64))
            removed = self._index.remove_ids(selector)
            if removed != len(labels):
                raise RuntimeError(f"faiss removed {removed} of {len(labels)} vectors; rebuild")

    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        ids, array, metas = self._prepare_upsert(ids, vectors, metadata)
        if not ids:
            return
        if self._kind == "ivfpq" and self._index is None:
            self.train(array)
        replaced = [self._label_of[i] for i in ids if i in self._label_of]
        self._remove_labels(replaced)
        labels = np.arange(self._next_label, self._next_label + len(ids), dtype=np.int64)
        self._next_label += len(ids)
        if self._spill is not None:
            self._spill.append(array, labels)
        else:
            self._index.add_with_ids(array, labels)
        for label, doc_id, meta in zip(labels.tolist(), ids, metas):
            self._label_of[doc_id], self._id_of[label], self._metadata[label] = label, doc_id, meta
        if self._spill is not None:
            return  # the HNSW switch and compaction wait for the structure to be built
        self._gpu = None
        if self._should_switch_to_hnsw():
            self._rebuild_hnsw(f"auto: more than {self.config.auto_threshold} vectors")
        self._maybe_compact()

    def _should_switch_to_hnsw(self) -> bool:
        auto_flat = self.config.kind == "auto" and self._kind == "flat"
        return auto_flat and len(self._id_of) > self.config.auto_threshold

    def delete(self, ids: Sequence[str]) -> int:
        labels = [self._label_of[i] for i in dict.fromkeys(ids) if i in self._label_of]
        self._remove_labels(labels)
        self._maybe_compact()
        return len(labels)

    def _maybe_compact(self) -> None:
        if self._kind != "hnsw" or not self._tombstones:
            return
        if len(self._tombstones) > self.config.rebuild_ratio * self._index.ntotal:
            self._rebuild_hnsw(f"{len(self._tombstones)} tombstones")

    # Reading ---------------------------------------------------------------------------

    def count(self) -> int:
        return len(self._id_of)

    def ids(self) -> list[str]:
        return sorted(self._label_of)

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors (ivfpq returns its lossy PQ reconstructions)."""
        ids = list(ids)
        missing = [i for i in ids if i not in self._label_of]
        if missing:
            raise KeyError(f"ids not in the index: {missing[:5]}; check ids() or upsert them")
        return self._reconstruct(np.asarray([self._label_of[i] for i in ids], dtype=np.int64))

    def get_metadata(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = []
        for doc_id in ids:
            label = self._label_of.get(doc_id)
            out.append(None if label is None else dict(self._metadata[label]))
        return out

    # Search ----------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, filter: FilterLike = None) -> list[list[Hit]]:
        return [[Hit(i, s) for i, s in row] for row in self.search_pairs(queries, k, filter)]

    def search_pairs(self, queries: np.ndarray, k: int,
                     filter: FilterLike = None) -> list[list[tuple[str, float]]]:
        queries, k, flt = self._prepare_search(queries, k, filter)
        if not self._id_of or queries.shape[0] == 0:
            return [[] for _ in range(queries.shape[0])]
        if flt is None:
            scores, labels = self._search_all(queries, k)
            candidates: np.ndarray | None = None
            n_candidates = len(self._id_of)
        else:
            candidates = self._matching_labels(flt)
            n_candidates = candidates.size
            if n_candidates == 0:
                return [[] for _ in range(queries.shape[0])]
            if n_candidates <= self.config.exact_filter_max:
                scores, labels = self._exact(queries, candidates, k)
            else:
                scores, labels = self._search_selected(queries, k, candidates)
        self._fill_short_rows(queries, k, scores, labels, candidates, n_candidates)
        return self._to_pairs(scores, labels)

    def _matching_labels(self, flt: Filter) -> np.ndarray:
        matched = [label for label, meta in self._metadata.items() if flt.matches(meta)]
        return np.asarray(matched, dtype=np.int64)

    def _search_params(self, selector: Any) -> Any:
        if self._kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self.config.ef_search)
        if self._kind == "ivfpq":
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.config.nprobe)
        return faiss.SearchParameters(sel=selector) if selector is not None else None

    def _search_all(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self._id_of))
        if self._kind == "flat" and self._use_gpu and k <= _MAX_GPU_K:
            return self._search_gpu(queries, k)
        selector = None
        if self._tombstones:
            selector = faiss.IDSelectorNot(
                faiss.IDSelectorBatch(np.fromiter(self._tombstones, dtype=np.int64))
            )
        return self._faiss_search(queries, k, selector)

    def _search_selected(
        self, queries: np.ndarray, k: int, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        selectivity = labels.size / max(1, len(self._id_of))
        selector = faiss.IDSelectorBatch(labels)
        return self._faiss_search(queries, min(k, labels.size), selector, selectivity)

    def _faiss_search(
        self, queries: np.ndarray, k: int, selector: Any, selectivity: float = 1.0
    ) -> tuple[Any, Any]:
        params = self._search_params(selector)
        # A selective filter hides most graph nodes / inverted lists from the result set,
        # so widen the search in proportion (capped) to keep recall up.
        widen = min(_MAX_WIDEN, math.ceil(1.0 / selectivity))
        if self._kind == "hnsw":
            base = max(self.config.ef_search, k)
            params.efSearch = max(base, min(_MAX_FILTER_EF, base * widen))
        elif self._kind == "ivfpq":
            params.nprobe = min(self._index.nlist, self.config.nprobe * widen)
        # `selector` (a local here) keeps the SWIG object alive while faiss uses it.
        with _omp_threads(1) if queries.shape[0] < SINGLE_THREAD_QUERIES else nullcontext():
            return self._index.search(queries, k, params=params)

    def _search_gpu(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._gpu is None:
            resources = faiss.StandardGpuResources()
            gpu_index = faiss.index_cpu_to_gpu(resources, 0, self._index.index)
            self._gpu = (resources, gpu_index, faiss.vector_to_array(self._index.id_map))
            logger.info("copied flat index (%d vectors) to GPU 0", self._index.ntotal)
        _resources, gpu_index, row_labels = self._gpu
        scores, rows = gpu_index.search(queries, k)
        return scores, np.where(rows >= 0, row_labels[np.clip(rows, 0, None)], -1)

    def _exact(
        self, queries: np.ndarray, labels: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = queries @ self._reconstruct(labels).T
        top_scores, columns = _topk(scores, k)
        return top_scores, labels[columns]

    def _fill_short_rows(
        self,
        queries: np.ndarray,
        k: int,
        scores: np.ndarray,
        labels: np.ndarray,
        candidates: np.ndarray | None,
        n_candidates: int,
    ) -> None:
        needed = min(k, n_candidates)
        short = np.flatnonzero((labels[:, :needed] >= 0).sum(axis=1) < needed)
        if short.size == 0:
            return
        logger.debug("approximate search returned too few hits for %d queries", short.size)
        pool = self._live_labels() if candidates is None else candidates
        exact_scores, exact_labels = self._exact(queries[short], pool, needed)
        scores[short, :needed], labels[short, :needed] = exact_scores, exact_labels

    def _to_pairs(self, scores: np.ndarray, labels: np.ndarray) -> list[list[tuple[str, float]]]:
        id_of = self._id_of
        return [[(id_of[label], score) for score, label in zip(row_s, row_l) if label >= 0]
                for row_s, row_l in zip(scores.tolist(), labels.tolist())]

    # Persistence -----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index into folder `path`; `index.json` is written last and names the
        data files, so an interrupted save leaves the previous save loadable."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        vectors_name, records_name = f"vectors-{token}.faiss", f"records-{token}.json"
        if self._index is not None:
            # streamed: serialize_index(...).tobytes() held the vectors twice more in memory
            index = self._index
            atomic_write_stream(folder / vectors_name, lambda handle: _write_faiss(index, handle))
        labels = list(self._id_of)
        atomic_write_json(
            folder / records_name,
            {
                "labels": labels,
                "ids": [self._id_of[label] for label in labels],
                "metadata": [self._metadata[label] for label in labels],
                "tombstones": sorted(self._tombstones),
            },
            indent=None,
        )
        atomic_write_json(
            config_path(folder),
            {
                "backend": self.backend_name,
                "format_version": _FORMAT_VERSION,
                "dim": self._dim,
                "config": dataclasses.asdict(self.config),
                "kind": self._kind,
                "ivf_params": self._ivf_params,
                "next_label": self._next_label,
                "files": {
                    "vectors": vectors_name if self._index is not None else None,
                    "records": records_name,
                },
            },
        )
        remove_stale_files(
            folder, ["vectors-*.faiss", "records-*.json"], {vectors_name, records_name}
        )
        logger.info("saved FAISS %s index (%d vectors) to %s", self._kind, self.count(), folder)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **overrides: Any) -> FaissIndex:
        """Open a saved index; `overrides` change search-time settings (e.g. ef_search)."""
        folder = Path(path)
        state = read_index_config(folder, cls.backend_name, _FORMAT_VERSION)
        if "kind" in overrides:
            raise ValueError("kind cannot change on load; rebuild the index to change it")
        config_dict = merge_overrides(FaissConfig, state["config"], overrides)
        index = cls(state["dim"], FaissConfig(**config_dict))
        index._kind = state["kind"]
        index._ivf_params = dict(state.get("ivf_params", {}))
        index._next_label = int(state["next_label"])
        files = state["files"]
        if files["vectors"] is not None:
            vectors = named_data_file(folder, files["vectors"], "vectors-*.faiss")
            data = np.frombuffer(vectors.read_bytes(), dtype=np.uint8)
            index._index = faiss.deserialize_index(data)
            if index._kind == "ivfpq":
                index._index.nprobe = index.config.nprobe
        else:
            index._index = None
        records = json.loads(named_data_file(folder, files["records"], "records-*.json")
                             .read_text(encoding="utf-8"))
        for label, doc_id, meta in zip(records["labels"], records["ids"], records["metadata"]):
            index._label_of[doc_id], index._id_of[label], index._metadata[label] = (
                label,
                doc_id,
                meta,
            )
        index._tombstones = set(records["tombstones"])
        logger.info("loaded FAISS %s index (%d vectors) from %s", index.kind, index.count(), folder)
        return index

    def close(self) -> None:
        self._gpu = None
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def __repr__(self) -> str:
        return f"FaissIndex(dim={self._dim}, kind={self._kind!r}, count={self.count()})"


def _write_faiss(index: Any, handle: Any) -> None:
    writer = faiss.PyCallbackIOWriter(handle.write)
    try:
        faiss.write_index(index, writer)
    finally:
        del writer  # flushes the writer's buffer into the handle
