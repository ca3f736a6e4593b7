"""The embedding cache a killed build resumes from: keys read at open, vectors on demand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nyx.embedding_cache import EmbeddingCache


def _fill(folder: Path) -> dict[str, np.ndarray]:
    """Three shards of real-shaped entries (one item may own several chunk vectors)."""
    rng = np.random.default_rng(0)
    cache = EmbeddingCache(folder, "v1")
    written: dict[str, np.ndarray] = {}
    for shard in range(3):
        entries = [(cache.key(f"doc-{shard}-{i}"), rng.standard_normal((1 + i % 3, 8))
                    .astype(np.float32)) for i in range(5)]
        cache.put_many(entries)
        written.update(entries)
    return written


def test_a_reopened_cache_returns_every_vector_and_reads_shards_only_when_asked(tmp_path):
    written = _fill(tmp_path / "cache")
    cache = EmbeddingCache(tmp_path / "cache", "v1")
    assert len(cache) == 15 and all(key in cache for key in written)
    assert not cache._open  # opening read the keys only
    for key, vectors in sorted(written.items()):  # key order: shards interleave
        np.testing.assert_array_equal(cache.pop(key), vectors)
        assert key not in cache
    assert len(cache) == 0 and cache.pop(next(iter(written))) is None
    # numbering continues after the existing shards
    cache.put_many([(cache.key("new"), np.ones((1, 8), np.float32))])
    assert (tmp_path / "cache" / "shard-000003.npz").exists()


def test_a_shard_damaged_after_opening_costs_its_items_only(tmp_path):
    written = _fill(tmp_path / "cache")
    cache = EmbeddingCache(tmp_path / "cache", "v1")
    damaged = sorted((tmp_path / "cache").glob("shard-*.npz"))[1]
    damaged.write_bytes(damaged.read_bytes()[:100])
    results = {key: cache.pop(key) for key in written}
    assert sum(v is None for v in results.values()) == 5  # re-embedded by the build
    for key, vectors in results.items():
        if vectors is not None:
            np.testing.assert_array_equal(vectors, written[key])


def test_load_false_reads_nothing(tmp_path):
    _fill(tmp_path / "cache")
    cache = EmbeddingCache(tmp_path / "cache", "v1", writer="w", load=False)
    assert len(cache) == 0
    cache.clear()
    assert not (tmp_path / "cache").exists()
