"""Embeddings written to disk in shards as they are computed, so a killed build loses nothing.

A shard is an ``.npz`` holding keys, offsets and vectors (one item may own several vectors when
its text is chunked). Shards are written atomically; a re-run loads them and embeds only what
is missing. The builder deletes the cache once its generation is committed.

Many processes may write into one cache folder at once (the Ray build's encoder actors): each
gives a distinct ``writer`` name, which goes into its shard file names, and opens the cache with
``load=False`` so that it reads no vectors it does not need.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


class EmbeddingCache:
    """Append-only on-disk cache of item vectors keyed by content and encoder version."""

    def __init__(self, folder: str | os.PathLike[str], encoder_version: str, *,
                 writer: str = "", load: bool = True) -> None:
        self.folder = Path(folder)
        self.encoder_version = encoder_version
        self.writer = writer
        self._prefix = f"shard-{writer}-" if writer else "shard-"
        self._loaded: dict[str, np.ndarray] = {}
        self._next = 0
        if self.folder.is_dir():
            for shard in sorted(self.folder.glob("shard-*.npz")):
                if load:
                    self._load(shard)
                number = shard.stem[len(self._prefix):]
                if shard.name.startswith(self._prefix) and number.isdigit():
                    self._next = max(self._next, int(number) + 1)

    def key(self, content_hash: str, extra: str = "") -> str:
        return hashlib.sha256(f"{self.encoder_version}|{extra}|{content_hash}".encode()).hexdigest()

    def _load(self, shard: Path) -> None:
        try:
            with np.load(shard, allow_pickle=False) as data:
                keys, offsets, vectors = data["keys"], data["offsets"], data["vectors"]
        except (OSError, ValueError, KeyError) as exc:  # a torn write from an old crash
            logger.warning("ignoring unreadable embedding shard %s: %s", shard, exc)
            return
        for i, key in enumerate(keys.tolist()):
            self._loaded[key] = vectors[offsets[i]:offsets[i + 1]]

    def __len__(self) -> int:
        return len(self._loaded)

    def get(self, key: str) -> np.ndarray | None:
        return self._loaded.get(key)

    def pop(self, key: str) -> np.ndarray | None:
        return self._loaded.pop(key, None)

    def put_many(self, entries: list[tuple[str, np.ndarray]]) -> None:
        """Write one shard with these entries (atomically: temp file, fsync, rename)."""
        if not entries:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        keys = np.array([k for k, _ in entries])
        sizes = [len(v) for _, v in entries]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        vectors = np.concatenate([v for _, v in entries]).astype(np.float32)
        path = self.folder / f"{self._prefix}{self._next:06d}.npz"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, keys=keys, offsets=offsets, vectors=vectors)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._next += 1

    def __contains__(self, key: object) -> bool:
        return key in self._loaded

    def clear(self) -> None:
        self._loaded.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def cached_keys(folder: str | os.PathLike[str]) -> set[str]:
    """The keys held by every readable shard in ``folder``, without reading their vectors."""
    keys: set[str] = set()
    for shard in sorted(Path(folder).glob("shard-*.npz")):
        try:
            with np.load(shard, allow_pickle=False) as data:
                keys.update(data["keys"].tolist())
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("ignoring unreadable embedding shard %s: %s", shard, exc)
    return keys
