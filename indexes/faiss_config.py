"""Settings of the FAISS backend and the faiss structures they describe."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import faiss
import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["FaissConfig", "IndexKind", "build_ivfpq", "build_structure", "gpu_available"]

IndexKind = Literal["auto", "flat", "hnsw", "ivfpq"]
_KINDS = ("auto", "flat", "hnsw", "ivfpq")


@dataclass
class FaissConfig:
    """Settings of a FAISS index; saved with it and restored by `FaissIndex.load`."""

    kind: IndexKind = "auto"
    auto_threshold: int = 50_000  # "auto" switches from flat to HNSW above this many vectors
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    ivf_nlist: int | None = None  # None: about 4 * sqrt(n) lists, chosen at training
    pq_m: int | None = None  # None: the largest divisor of dim that is <= dim / 8
    pq_nbits: int = 8
    nprobe: int = 16
    rebuild_ratio: float = 0.2  # HNSW is rebuilt when tombstones exceed this share
    exact_filter_max: int = 10_000  # filters matching at most this many docs score exactly
    use_gpu: bool | None = None  # None: use a GPU for flat search when faiss sees one

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"FAISS kind {self.kind!r} is unknown; use one of {_KINDS}")
        for name in ("auto_threshold", "hnsw_m", "ef_construction", "ef_search", "nprobe"):
            if getattr(self, name) < 1:
                raise ValueError(f"FaissConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.rebuild_ratio <= 1.0:
            raise ValueError(f"rebuild_ratio must be in (0, 1], got {self.rebuild_ratio}")


def gpu_available() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def build_structure(kind: str, dim: int, config: FaissConfig) -> Any:
    """An empty flat or HNSW index wrapped in `IndexIDMap2` (int64 labels, reconstruct)."""
    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = config.ef_construction
        hnsw.hnsw.efSearch = config.ef_search
        return faiss.IndexIDMap2(hnsw)
    raise ValueError(f"kind {kind!r} has no untrained form; use build_ivfpq for 'ivfpq'")


def build_ivfpq(dim: int, config: FaissConfig, n_train: int) -> tuple[Any, int, int]:
    """An untrained `IndexIVFPQ` sized for `n_train` training vectors: (index, nlist, pq_m).

    IVF takes int64 ids natively, so no IDMap wrapper: an `IndexIDMap` over IVF would
    corrupt its id map on `remove_ids` (it assumes the inner index compacts ids, as
    flat indexes do). A hashtable direct map lets it reconstruct and remove by id.
    """
    nlist = config.ivf_nlist or max(1, min(65_536, int(4 * np.sqrt(n_train))))
    pq_m = config.pq_m or max(d for d in range(1, max(1, dim // 8) + 1) if dim % d == 0)
    if dim % pq_m:
        raise ValueError(f"pq_m={pq_m} must divide dim={dim}; pick a divisor of dim")
    needed = max(nlist, 2**config.pq_nbits)
    if n_train < needed:
        raise ValueError(
            f"ivfpq must be trained on at least {needed} vectors (nlist={nlist}, "
            f"pq_nbits={config.pq_nbits}) but got {n_train}; upsert a larger first batch, "
            "call train(sample), or use kind='flat' or 'hnsw'"
        )
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQ(
        quantizer, dim, nlist, pq_m, config.pq_nbits, faiss.METRIC_INNER_PRODUCT
    )
    index.own_fields = True
    quantizer.this.disown()  # the IVF index now owns (and frees) the quantizer
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    index.nprobe = config.nprobe
    return index, nlist, pq_m
