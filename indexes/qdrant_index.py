"""Qdrant backend: in-memory, embedded on-disk (`path=`) or a server/cluster (`url=`).

String ids become UUID5 point ids; the original id is stored in the payload under
`_nyx_id`, next to the metadata keys, so metadata filters translate one-to-one into
Qdrant `Filter(must=[...])` conditions. Distance is DOT, so scores equal FAISS's inner
products. qdrant-client is optional and imported only here.

New collections also carry a sparse vector named ``bm25`` (IDF modifier) that the lexical side
of hybrid search can fill, so that Qdrant serves both halves (``nyx.indexes.qdrant_hybrid``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .atomic import atomic_write_bytes, atomic_write_json
from .base import (
    Hit,
    VectorIndex,
    check_dim,
    config_path,
    merge_overrides,
    named_data_file,
    read_index_config,
    remove_stale_files,
)
from .filters import FilterLike
from .qdrant_points import ID_PAYLOAD_KEY, _dense, _qdrant, point_id, to_qdrant_filter

logger = logging.getLogger(__name__)

__all__ = ["SPARSE_VECTOR", "QdrantConfig", "QdrantIndex"]

#: the sparse (BM25) vector of each document's first point
SPARSE_VECTOR = "bm25"
_FORMAT_VERSION = 1
_SCROLL_PAGE = 1024


@dataclass
class QdrantConfig:
    """Where and how to store vectors. Set exactly one of `location`, `path`, `url`;
    with none, the collection lives in memory. `api_key` is never written to disk
    (on load it comes from the `api_key=` override or the QDRANT_API_KEY variable)."""

    collection: str = "nyx"
    location: str | None = None  # ":memory:"
    path: str | None = None  # embedded, persisted in this folder
    url: str | None = None  # server or cloud cluster
    api_key: str | None = None
    batch_size: int = 256
    exact: bool = False  # force exhaustive search on a server (local mode is always exact)
    hnsw_ef: int | None = None
    timeout: int | None = None
    prefer_grpc: bool = False
    #: create new collections with the ``bm25`` sparse vector (hybrid search served by Qdrant)
    sparse: bool = True
    #: how a Retriever fuses text queries on this index: "exact" (both rankings and every
    #: score from Qdrant, fused by Nyx's code), "formula" / "rrf" / "dbsf" (fused inside
    #: Qdrant, see nyx.indexes.qdrant_hybrid), "local" (BM25 from the in-process lexical index)
    hybrid: str = "exact"
    #: cluster layout of a new collection on a server (None: the server's defaults)
    shard_number: int | None = None
    replication_factor: int | None = None
    #: "int8": scalar-quantised copy of the vectors in RAM, originals on disk for rescoring
    quantization: str | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("location", "path", "url") if getattr(self, name)]
        if len(given) > 1:
            raise ValueError(f"set only one of location, path, url; got {given}")
        if not given:
            self.location = ":memory:"
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.quantization not in (None, "int8"):
            raise ValueError(f"unknown quantization={self.quantization!r}: use None or 'int8'")
        if self.hybrid not in ("exact", "formula", "rrf", "dbsf", "local"):
            raise ValueError(f"unknown hybrid={self.hybrid!r}: use exact, formula, rrf, dbsf "
                             "or local")

    @property
    def in_memory(self) -> bool:
        return self.location == ":memory:"


class QdrantIndex(VectorIndex):
    """A Qdrant collection behind the `VectorIndex` interface."""

    backend_name: ClassVar[str] = "qdrant"

    def __init__(
        self,
        dim: int,
        config: QdrantConfig | None = None,
        *,
        client: Any = None,
        **params: Any,
    ) -> None:
        if config is not None and params:
            raise ValueError("pass either config= or keyword parameters, not both")
        self._dim = check_dim(dim)
        self.config = config or QdrantConfig(**params)
        self._models = _qdrant().models
        self._client = client if client is not None else self._connect()
        self.sparse_avgdl: float | None = None
        self.supports_sparse = False
        self._ensure_collection()

    @property
    def sparse_fusion(self) -> str | None:
        return self.config.hybrid if self.supports_sparse and self.config.hybrid != "local" \
            else None

    def _connect(self) -> Any:
        cfg = self.config
        QdrantClient = _qdrant().QdrantClient
        if cfg.url:
            api_key = cfg.api_key or os.environ.get("QDRANT_API_KEY")
            return QdrantClient(
                url=cfg.url, api_key=api_key, timeout=cfg.timeout, prefer_grpc=cfg.prefer_grpc
            )
        if cfg.path:
            try:
                return QdrantClient(path=cfg.path)
            except RuntimeError as exc:
                raise RuntimeError(
                    f"cannot open Qdrant storage at {cfg.path}: {exc}. Close the other index "
                    "using this folder (index.close()) or run a Qdrant server and pass url="
                ) from exc
        return QdrantClient(location=cfg.location)

    def _ensure_collection(self) -> None:
        models, name = self._models, self.config.collection
        if not self._client.collection_exists(name):
            sparse = {SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)}
            cfg = self.config
            quantization = None
            if cfg.quantization == "int8":
                quantization = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
                    type=models.ScalarType.INT8, always_ram=True))
            self._client.create_collection(
                name,
                vectors_config=models.VectorParams(size=self._dim, distance=models.Distance.DOT,
                                                   on_disk=True if quantization else None),
                sparse_vectors_config=sparse if cfg.sparse else None,
                shard_number=cfg.shard_number,
                replication_factor=cfg.replication_factor,
                quantization_config=quantization,
            )
            self.supports_sparse = self.config.sparse
            logger.info("created Qdrant collection %r (dim=%d, DOT)", name, self._dim)
            return
        params = self._client.get_collection(name).config.params
        self.supports_sparse = SPARSE_VECTOR in (params.sparse_vectors or {})
        vectors = params.vectors
        if not isinstance(vectors, models.VectorParams):
            raise ValueError(
                f"Qdrant collection {name!r} uses named vectors; give Nyx its own collection"
            )
        if vectors.size != self._dim or vectors.distance != models.Distance.DOT:
            raise ValueError(
                f"Qdrant collection {name!r} has size={vectors.size}, distance={vectors.distance} "
                f"but this index needs size={self._dim}, distance=Dot; choose another collection "
                "name or delete that collection"
            )

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def client(self) -> Any:
        """The underlying `QdrantClient`."""
        return self._client

    @property
    def params(self) -> dict[str, Any]:
        params = dataclasses.asdict(self.config)
        params.pop("api_key")
        return params

    # Mutation --------------------------------------------------------------------------

    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        ids, array, metas = self._prepare_upsert(ids, vectors, metadata)
        for position, meta in enumerate(metas):
            if ID_PAYLOAD_KEY in meta:
                raise ValueError(
                    f"metadata[{position}] uses the reserved key {ID_PAYLOAD_KEY!r}; rename it"
                )
        size = self.config.batch_size
        for start in range(0, len(ids), size):
            points = [
                self._models.PointStruct(
                    id=point_id(doc_id), vector=vector, payload={**meta, ID_PAYLOAD_KEY: doc_id}
                )
                for doc_id, vector, meta in zip(
                    ids[start : start + size],
                    array[start : start + size].tolist(),
                    metas[start : start + size],
                )
            ]
            self._client.upsert(self.config.collection, points=points, wait=True)

    def delete(self, ids: Sequence[str]) -> int:
        unique = list(dict.fromkeys(ids))
        if not unique:
            return 0
        present = [point_id(r.payload[ID_PAYLOAD_KEY]) for r in self._retrieve(unique, False)]
        for start in range(0, len(present), self.config.batch_size):
            chunk = present[start : start + self.config.batch_size]
            selector = self._models.PointIdsList(points=chunk)
            self._client.delete(self.config.collection, points_selector=selector, wait=True)
        return len(present)

    # Reading ---------------------------------------------------------------------------

    def _retrieve(self, ids: Sequence[str], with_vectors: bool) -> list[Any]:
        records: list[Any] = []
        for start in range(0, len(ids), self.config.batch_size):
            records += self._client.retrieve(
                self.config.collection,
                ids=[point_id(i) for i in ids[start : start + self.config.batch_size]],
                with_payload=True,
                with_vectors=with_vectors,
            )
        return records

    def _scroll(self, with_vectors: bool) -> Iterator[Any]:
        offset = None
        while True:
            records, offset = self._client.scroll(
                self.config.collection,
                limit=_SCROLL_PAGE,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
            yield from records
            if offset is None:
                return

    def count(self) -> int:
        return int(self._client.count(self.config.collection, exact=True).count)

    def ids(self) -> list[str]:
        return sorted(record.payload[ID_PAYLOAD_KEY] for record in self._scroll(False))

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        ids = list(ids)
        records = self._retrieve(list(dict.fromkeys(ids)), True)
        found = {r.payload[ID_PAYLOAD_KEY]: _dense(r.vector) for r in records}
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"ids not in the index: {missing[:5]}; check ids() or upsert them")
        if not ids:
            return np.empty((0, self._dim), dtype=np.float32)
        return np.asarray([found[i] for i in ids], dtype=np.float32)

    def get_metadata(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        records = self._retrieve(list(dict.fromkeys(ids)), False)
        found = {r.payload[ID_PAYLOAD_KEY]: r.payload for r in records}
        return [
            None
            if (p := found.get(i)) is None
            else {k: v for k, v in p.items() if k != ID_PAYLOAD_KEY}
            for i in ids
        ]

    # Search ----------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, filter: FilterLike = None) -> list[list[Hit]]:
        queries, k, flt = self._prepare_search(queries, k, filter)
        if queries.shape[0] == 0:
            return []
        qfilter = to_qdrant_filter(flt)
        results = self._query(queries, k, qfilter, exact=self.config.exact)
        short = [row for row, hits in enumerate(results) if len(hits) < k]
        if short and not self.config.exact:
            # An approximate (HNSW) server search may stop early under a selective filter;
            # redo short rows exhaustively when more documents match than were returned.
            available = int(
                self._client.count(self.config.collection, count_filter=qfilter, exact=True).count
            )
            redo = [row for row in short if len(results[row]) < min(k, available)]
            if redo:
                exact = self._query(queries[redo], k, qfilter, exact=True)
                for row, hits in zip(redo, exact):
                    results[row] = hits
        return results

    def _query(self, queries: np.ndarray, k: int, qfilter: Any, exact: bool) -> list[list[Hit]]:
        models = self._models
        params = models.SearchParams(exact=exact, hnsw_ef=self.config.hnsw_ef)
        results: list[list[Hit]] = []
        for start in range(0, queries.shape[0], self.config.batch_size):
            requests = [
                models.QueryRequest(
                    query=vector,
                    filter=qfilter,
                    limit=k,
                    params=params,
                    with_payload=[ID_PAYLOAD_KEY],
                )
                for vector in queries[start : start + self.config.batch_size].tolist()
            ]
            responses = self._client.query_batch_points(self.config.collection, requests=requests)
            results += [
                [Hit(p.payload[ID_PAYLOAD_KEY], float(p.score)) for p in response.points]
                for response in responses
            ]
        return results

    # Persistence -----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write `index.json` (connection settings, no api_key) into folder `path`.

        On-disk and server collections persist by themselves; an in-memory collection
        is dumped next to it (`points-*.npy` + `points-*.json`) and reloaded into memory.
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        config = self.params
        if self.config.path:
            storage = Path(self.config.path).resolve()
            inside = storage == folder.resolve() or folder.resolve() in storage.parents
            config["path"] = os.path.relpath(storage, folder.resolve()) if inside else str(storage)
        snapshot = None
        if self.config.in_memory:
            token = uuid.uuid4().hex[:12]
            snapshot = {"vectors": f"points-{token}.npy", "records": f"points-{token}.json"}
            records = list(self._scroll(True))
            vectors = np.asarray([_dense(r.vector) for r in records], dtype=np.float32).reshape(
                len(records), self._dim
            )
            buffer = io.BytesIO()
            np.save(buffer, vectors, allow_pickle=False)
            atomic_write_bytes(folder / snapshot["vectors"], buffer.getvalue())
            atomic_write_json(
                folder / snapshot["records"], [r.payload for r in records], indent=None
            )
        atomic_write_json(
            config_path(folder),
            {
                "backend": self.backend_name,
                "format_version": _FORMAT_VERSION,
                "dim": self._dim,
                "config": config,
                "snapshot": snapshot,
                # a snapshot keeps no sparse vectors: they are written again after loading
                "sparse_avgdl": None if snapshot else self.sparse_avgdl,
            },
        )
        remove_stale_files(folder, ["points-*"], set(snapshot.values()) if snapshot else set())
        logger.info("saved Qdrant index settings to %s", folder)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **overrides: Any) -> QdrantIndex:
        """Reopen a saved index; `overrides` replace config fields (e.g. url=, api_key=)."""
        folder = Path(path)
        state = read_index_config(folder, cls.backend_name, _FORMAT_VERSION)
        config_dict = dict(state["config"])
        if config_dict.get("path") and not os.path.isabs(config_dict["path"]):
            config_dict["path"] = str((folder / config_dict["path"]).resolve())
        if {"location", "path", "url"} & set(overrides):
            config_dict.update(location=None, path=None, url=None)
        config_dict = merge_overrides(QdrantConfig, config_dict, overrides)
        index = cls(state["dim"], QdrantConfig(**config_dict))
        index.sparse_avgdl = state.get("sparse_avgdl")
        snapshot = state.get("snapshot")
        if snapshot and index.count() == 0:
            vectors = np.load(named_data_file(folder, snapshot["vectors"], "points-*.npy"),
                              allow_pickle=False)
            payloads = json.loads(named_data_file(folder, snapshot["records"], "points-*.json")
                                  .read_text(encoding="utf-8"))
            ids = [p.pop(ID_PAYLOAD_KEY) for p in payloads]
            index.upsert(ids, vectors, payloads)
        logger.info("loaded Qdrant index (%d vectors) from %s", index.count(), folder)
        return index

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        where = self.config.url or self.config.path or self.config.location
        return f"QdrantIndex(dim={self._dim}, collection={self.config.collection!r}, at={where!r})"
