"""Backend registry: map a backend name to its `VectorIndex` class."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from .base import VectorIndex, config_path

__all__ = ["available_backends", "create_index", "get_backend", "load_index", "register_backend"]

# Backends are imported on first use, so a missing optional dependency only matters
# to whoever asks for that backend.
_BACKENDS: dict[str, str] = {
    "faiss": "nyx.indexes.faiss_index:FaissIndex",
    "qdrant": "nyx.indexes.qdrant_index:QdrantIndex",
}


def available_backends() -> list[str]:
    """Names accepted by `create_index`."""
    return sorted(_BACKENDS)


def register_backend(name: str, target: str | type[VectorIndex]) -> None:
    """Add a backend, given as a class or a "module:Class" string."""
    if isinstance(target, type):
        target = f"{target.__module__}:{target.__qualname__}"
    _BACKENDS[name] = target


def get_backend(name: str) -> type[VectorIndex]:
    """The `VectorIndex` subclass registered under `name`."""
    try:
        target = _BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown index backend {name!r}; choose one of {available_backends()}"
        ) from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, VectorIndex)):
        raise TypeError(f"backend {name!r} -> {target} is not a VectorIndex subclass")
    return cls


def create_index(backend: str, dim: int, **params: Any) -> VectorIndex:
    """A new, empty index, e.g. `create_index("faiss", 384, kind="hnsw")`."""
    return get_backend(backend)(dim, **params)


def load_index(path: str | os.PathLike[str], **overrides: Any) -> VectorIndex:
    """Open a saved index folder with whichever backend wrote it."""
    file = config_path(path)
    try:
        backend = json.loads(file.read_text(encoding="utf-8"))["backend"]
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no saved vector index in {Path(path)} ({file.name} missing); build the index first"
        ) from None
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{file} is damaged ({exc!r}); rebuild the index") from exc
    return get_backend(backend).load(path, **overrides)
