"""An on-disk cache for generator and retriever calls, so that ablations re-use work.

Keys hash everything that determines the output (model id, prompt, parameters); values are
JSON. The store is one SQLite file (WAL mode), safe to share between the threads of one
process and between processes: a run that is killed resumes where it stopped, because every
finished call is already on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["DiskCache", "cache_key"]


def cache_key(*parts: Any) -> str:
    """A sha256 over the canonical JSON of ``parts`` (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class DiskCache:
    """A persistent key -> JSON value map in one SQLite file.

    >>> cache = DiskCache("runs/cache.sqlite")
    >>> cache.put(cache_key("model", "prompt"), {"text": "Paris"})
    >>> cache.get(cache_key("model", "prompt"))
    {'text': 'Paris'}
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30.0)
        except (OSError, sqlite3.Error) as error:
            raise OSError(f"cannot open the cache {self.path}: {error}; pass a writable path "
                          "or cache=None to disable caching") from error
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            self._conn.commit()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        blob = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)",
                               (key, blob))
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM entries")
            self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"DiskCache({str(self.path)!r}, hits={self.hits}, misses={self.misses})"
