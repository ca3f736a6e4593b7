"""Embeddings computed once and kept as ``.npy`` files, keyed by encoder version and content.

Encoding SQuAD's paragraphs and questions or 10,000 images takes minutes on a small CPU; every
peer in a benchmark run and every later run reuse the same vectors. A cache file's name holds
a hash of the encoder version, any extra setting that changes vectors (chunk size, template)
and the exact inputs, so a changed model, setting or data set can never reuse stale vectors::

    vectors = cached_vectors("squad-docs", encoder.version, texts,
                             lambda: encoder.encode_documents(texts, batch_size=64))
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nyx.benchmarks.environment import bench_cache_dir

logger = logging.getLogger(__name__)

__all__ = ["cache_key", "cached_vectors"]


def cache_key(version: str, inputs: Sequence[str], extra: str = "") -> str:
    """A hex digest of the encoder version, the extra settings and every input, in order."""
    digest = hashlib.sha256()
    digest.update(f"{version}\x00{extra}\x00{len(inputs)}\x00".encode())
    for text in inputs:
        digest.update(text.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def _save_atomic(path: Path, vectors: np.ndarray) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)


def cached_vectors(
    name: str,
    version: str,
    inputs: Sequence[str],
    compute: Callable[[], np.ndarray],
    *,
    extra: str = "",
    folder: Path | None = None,
) -> np.ndarray:
    """Load the vectors of ``inputs`` from the cache, or ``compute()`` and store them.

    Args:
        name: a readable prefix for the file, e.g. ``"squad-docs"``.
        version: the encoder's version string (``encoder.version``).
        inputs: the texts (or image paths / content hashes) being encoded, in order; they key
            the cache, so pass exactly what is encoded.
        compute: returns a ``(len(inputs), dim)`` array when the cache misses. May return more
            rows than inputs when one input owns several vectors (chunked text).
        extra: any other setting that changes the vectors.
        folder: where the files go; default ``~/.cache/nyx/bench/vectors``.
    """
    folder = folder or bench_cache_dir("vectors")
    key = cache_key(version, inputs, extra)
    path = folder / f"{name}-{key[:20]}.npy"
    if path.is_file():
        try:
            vectors = np.load(path, allow_pickle=False)
            logger.info("loaded %s vectors %s from %s", name, vectors.shape, path)
            return vectors
        except (OSError, ValueError) as error:
            logger.warning("unreadable vector cache %s (%s); recomputing", path, error)
    start = time.perf_counter()
    vectors = np.ascontiguousarray(compute(), dtype=np.float32)
    seconds = time.perf_counter() - start
    if vectors.ndim != 2 or len(vectors) < len(inputs):
        raise ValueError(
            f"compute() for {name!r} returned shape {vectors.shape} for {len(inputs)} inputs; "
            "it must return one row (or more, for chunked inputs) per input"
        )
    _save_atomic(path, vectors)
    meta = {
        "name": name,
        "version": version,
        "extra": extra,
        "inputs": len(inputs),
        "shape": list(vectors.shape),
        "seconds": round(seconds, 2),
        "key": key,
    }
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    logger.info("encoded %d %s in %.1f s; cached at %s", len(inputs), name, seconds, path)
    return vectors
