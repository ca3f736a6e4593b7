"""Embeddings written to disk in shards as they are computed, so a killed build loses nothing.

A shard is an ``.npz`` holding keys, offsets and vectors (one item may own several vectors when
its text is chunked). Shards are written atomically; a re-run reads their keys and embeds only
what is missing, reading a shard's vectors when the build reaches its items and keeping the
last few shards read (items come back in about the order they were written, so a resumed build
holds a handful of shards, not the whole cache). The builder deletes the cache once its
generation is committed.

Many processes may write into one cache folder at once (the Ray build's encoder actors): each
gives a distinct ``writer`` name, which goes into its shard file names, and opens the cache with
``load=False`` so that it reads no vectors it does not need.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: shards whose vectors are kept in memory (several writers' shards interleave in a Ray build)
OPEN_SHARDS = 16
#: what reading a damaged .npz raises
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


class EmbeddingCache:
    """Append-only on-disk cache of item vectors keyed by content and encoder version."""

    def __init__(self, folder: str | os.PathLike[str], encoder_version: str, *,
                 writer: str = "", load: bool = True) -> None:
        self.folder = Path(folder)
        self.encoder_version = encoder_version
        self.writer = writer
        self._prefix = f"shard-{writer}-" if writer else "shard-"
        #: key -> (shard, row) of every readable cached item; vectors are read on demand
        self._where: dict[str, tuple[Path, int]] = {}
        #: the shards last read: path -> (offsets, vectors)
        self._open: OrderedDict[Path, tuple[np.ndarray, np.ndarray]] = OrderedDict()
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
        """Index ``shard``'s keys (its vectors stay on disk until asked for)."""
        try:
            with np.load(shard, allow_pickle=False) as data:
                keys = data["keys"]
        except _UNREADABLE as exc:  # a torn write from an old crash
            logger.warning("ignoring unreadable embedding shard %s: %s", shard, exc)
            return
        for row, key in enumerate(keys.tolist()):
            self._where[key] = (shard, row)

    def _vectors(self, shard: Path, row: int) -> np.ndarray | None:
        if shard not in self._open:
            try:
                with np.load(shard, allow_pickle=False) as data:
                    self._open[shard] = (data["offsets"], data["vectors"])
            except _UNREADABLE as exc:
                logger.warning("ignoring unreadable embedding shard %s: %s", shard, exc)
                self._where = {k: v for k, v in self._where.items() if v[0] != shard}
                return None
            if len(self._open) > OPEN_SHARDS:
                self._open.popitem(last=False)
        self._open.move_to_end(shard)
        offsets, vectors = self._open[shard]
        return vectors[offsets[row]:offsets[row + 1]].copy()

    def __len__(self) -> int:
        return len(self._where)

    def get(self, key: str) -> np.ndarray | None:
        where = self._where.get(key)
        return None if where is None else self._vectors(*where)

    def pop(self, key: str) -> np.ndarray | None:
        vectors = self.get(key)
        self._where.pop(key, None)
        return vectors

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
        return key in self._where

    def clear(self) -> None:
        self._where.clear()
        self._open.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def cached_keys(folder: str | os.PathLike[str]) -> set[str]:
    """The keys held by every readable shard in ``folder``, without reading their vectors."""
    return set(EmbeddingCache(folder, encoder_version="")._where)
