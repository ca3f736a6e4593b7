"""SQLite document store: one WAL-mode file holding documents and the sources they came from.

Each write method runs in one transaction, and `transaction()` groups several calls into
one, so a crash or an exception never leaves a half-applied batch behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from .filters import Filter

logger = logging.getLogger(__name__)

__all__ = ["DocStore", "DocSummary", "Document", "SourceRecord", "content_hash"]

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_source ON documents(source);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    mtime REAL NOT NULL,
    size INTEGER NOT NULL,
    doc_ids TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_DOC_COLUMNS = "id, source, payload, metadata, content_hash, updated"
_QUERY_CHUNK = 500  # stays well under SQLite's bound-parameter limit


def _dumps(value: Any, what: str, doc_id: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"document {doc_id!r}: {what} is not JSON-serialisable ({exc}); store file paths "
            "or base64 text instead of objects"
        ) from exc


def content_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of a payload's canonical JSON (sorted keys), hex encoded."""
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class Document:
    """A stored document. `payload` is opaque to the store (text, image file refs, ...);
    `content_hash` defaults to the hash of the payload, `updated` is set when stored."""

    id: str
    payload: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    content_hash: str = ""
    updated: float = 0.0  # seconds since the epoch


@dataclass
class SourceRecord:
    """A source file the documents were read from, for incremental re-indexing."""

    path: str
    content_hash: str
    mtime: float
    size: int
    doc_ids: list[str] = field(default_factory=list)
    updated: float = 0.0


@dataclass(frozen=True)
class DocSummary:
    """A stored document's ranking facts (see :meth:`DocStore.summaries`)."""

    id: str
    source: str | None
    chunk: int | None
    content_hash: str
    has_text: bool
    n_vectors: int


#: at most this many document summaries are kept between writes (a few hundred bytes each)
SUMMARY_CACHE = 200_000


def _row_to_document(row: sqlite3.Row) -> Document:
    return Document(
        id=row["id"],
        payload=json.loads(row["payload"]),
        metadata=json.loads(row["metadata"]),
        source=row["source"],
        content_hash=row["content_hash"],
        updated=row["updated"],
    )


def _row_to_source(row: sqlite3.Row) -> SourceRecord:
    return SourceRecord(
        path=row["path"],
        content_hash=row["content_hash"],
        mtime=row["mtime"],
        size=row["size"],
        doc_ids=json.loads(row["doc_ids"]),
        updated=row["updated"],
    )


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _QUERY_CHUNK):
        yield items[start : start + _QUERY_CHUNK]


class DocStore:
    """Documents and sources in one SQLite file (WAL journal, safe for concurrent readers).

    One `DocStore` may be shared between threads; writes are serialised.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False,
                 copy_on_write: str | os.PathLike[str] | None = None) -> None:
        """Open (or create) the store at ``path``. ``readonly`` refuses writes; with
        ``copy_on_write``, ``path`` (a committed, never-changing file) is read in place and
        copied to ``copy_on_write`` at the first write, which then goes to the copy: opening
        an index copies nothing."""
        self.path = Path(path)
        self._copy_to = Path(copy_on_write) if copy_on_write is not None else None
        readonly = readonly or self._copy_to is not None
        if readonly and not self.path.exists():
            raise FileNotFoundError(f"no document store at {self.path}; build the index first")
        self._lock = threading.RLock()
        self._depth = 0
        self._conn: sqlite3.Connection | None = None
        #: (PRAGMA data_version, keys) for metadata_keys; None after a write of ours
        self._keys: tuple[int, frozenset[str]] | None = None
        #: summaries read since the last write (PRAGMA data_version they were read at)
        self._summaries: dict[str, DocSummary | None] = {}
        self._summaries_version = -1
        #: (PRAGMA data_version, number of documents); None after a write of ours
        self._count: tuple[int, int] | None = None
        self._open(readonly, immutable=self._copy_to is not None)

    def _open(self, readonly: bool, immutable: bool = False) -> None:
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        quoted = urllib.parse.quote(str(self.path.resolve()))
        # immutable: no lock, no -wal/-shm file beside a committed generation's store
        mode = "ro&immutable=1" if immutable else ("ro" if readonly else "rwc")
        self._conn = sqlite3.connect(f"file:{quoted}?mode={mode}", uri=True,
                                     isolation_level=None, check_same_thread=False,
                                     timeout=30.0)
        self._conn.row_factory = sqlite3.Row
        if not readonly:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self.transaction():
                self._create_schema()

    def _materialize(self) -> None:
        """Before the first write of a copy-on-write store: copy it and write to the copy."""
        if self._copy_to is None:
            return
        target, self._copy_to = self._copy_to, None
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, target)
        self.conn.close()
        self.path = target
        self._open(readonly=False)

    def _create_schema(self) -> None:
        for statement in filter(str.strip, _SCHEMA.split(";")):
            self.conn.execute(statement)
        row = self.conn.execute(
            "SELECT value FROM store_info WHERE key='schema_version'"
        ).fetchone()
        if row is None:
            self.conn.execute(
                "INSERT INTO store_info VALUES ('schema_version', ?)", (str(_SCHEMA_VERSION),)
            )
        elif int(row["value"]) > _SCHEMA_VERSION:
            raise ValueError(
                f"{self.path} was written by a newer Nyx (schema {row['value']}); upgrade Nyx"
            )

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"DocStore {self.path} is closed; open a new DocStore")
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[DocStore]:
        """Group writes atomically; nested use becomes a savepoint."""
        with self._lock:
            if self._depth == 0:
                self._materialize()
            conn, depth = self.conn, self._depth
            name = f"nyx_sp{depth}"
            conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield self
            except BaseException:
                if depth == 0:
                    conn.execute("ROLLBACK")
                else:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute("COMMIT" if depth == 0 else f"RELEASE {name}")
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._keys = None  # metadata_keys is computed again after a write
                    self._summaries = {}  # and so are summaries (data_version sees others')
                    self._count = None

    # Documents -------------------------------------------------------------------------

    def put_many(self, documents: Iterable[Document]) -> int:
        """Insert or replace documents in one transaction; returns how many were written.

        Fills in `content_hash` (if empty) and `updated` on the given objects.
        """
        written = 0
        with self.transaction():
            now = time.time()
            for doc in documents:
                if not isinstance(doc.id, str) or not doc.id:
                    raise ValueError(f"document id must be a non-empty string, got {doc.id!r}")
                payload = _dumps(doc.payload, "payload", doc.id)
                metadata = _dumps(doc.metadata, "metadata", doc.id)
                doc.content_hash = doc.content_hash or content_hash(doc.payload)
                doc.updated = now
                self.conn.execute(
                    f"INSERT OR REPLACE INTO documents ({_DOC_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (doc.id, doc.source, payload, metadata, doc.content_hash, now),
                )
                written += 1
        return written

    def get(self, id: str) -> Document | None:
        """One document, or None."""
        return self.get_many([id])[0]

    def get_many(self, ids: Sequence[str], *, skip_missing: bool = False) -> list[Document | None]:
        """Documents in the order of `ids`. Missing ids give None at their position, or
        are left out when `skip_missing=True` (then the result may be shorter)."""
        ids = list(ids)
        found: dict[str, Document] = {}
        with self._lock:
            for chunk in _chunks(list(dict.fromkeys(ids))):
                marks = ",".join("?" * len(chunk))
                rows = self.conn.execute(
                    f"SELECT {_DOC_COLUMNS} FROM documents WHERE id IN ({marks})", chunk
                )
                found.update((row["id"], _row_to_document(row)) for row in rows)
        docs = [found.get(i) for i in ids]
        return [d for d in docs if d is not None] if skip_missing else docs

    def summaries(self, ids: Sequence[str]) -> list[DocSummary | None]:
        """What ranking needs of each document, read by SQLite without decoding payloads:
        its metadata ``source`` (a string) and ``chunk`` (an integer), content hash, whether
        its payload ``text`` is non-blank and its ``n_vectors`` (default 1); ``None`` for an
        unknown id. Far cheaper than :meth:`get_many` for the hundred candidates of a query."""
        with self._lock:
            version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
            if version != self._summaries_version or len(self._summaries) > SUMMARY_CACHE:
                self._summaries, self._summaries_version = {}, version
            cache = self._summaries
            wanted = [i for i in dict.fromkeys(ids) if i not in cache]
            cache.update(self._read_summaries(wanted))
            return [cache.get(i) for i in ids]

    def _read_summaries(self, ids: list[str]) -> dict[str, DocSummary | None]:
        found: dict[str, DocSummary | None] = dict.fromkeys(ids)
        if ids:
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                rows = self.conn.execute(
                    "SELECT id, content_hash,"
                    " CASE WHEN json_type(metadata, '$.source') = 'text'"
                    "  THEN json_extract(metadata, '$.source') END,"
                    " CASE WHEN json_type(metadata, '$.chunk') = 'integer'"
                    "  THEN json_extract(metadata, '$.chunk') END,"
                    " json_type(payload, '$.text') = 'text' AND trim(json_extract(payload,"
                    "  '$.text'), ' ' || char(9, 10, 11, 12, 13)) != '',"
                    " CASE WHEN json_type(payload, '$.n_vectors') = 'integer'"
                    "  THEN json_extract(payload, '$.n_vectors') END"
                    f" FROM documents WHERE id IN ({marks})", chunk)
                for doc_id, digest, source, part, has_text, n in rows:
                    found[doc_id] = DocSummary(doc_id, source, part, digest, bool(has_text),
                                               int(n) if n is not None else 1)
        return found

    def delete_many(self, ids: Sequence[str]) -> int:
        """Delete documents in one transaction; returns how many existed."""
        removed = 0
        with self.transaction():
            for chunk in _chunks(list(dict.fromkeys(ids))):
                marks = ",".join("?" * len(chunk))
                cursor = self.conn.execute(f"DELETE FROM documents WHERE id IN ({marks})", chunk)
                removed += cursor.rowcount
        return removed

    def ids(self) -> list[str]:
        """All document ids, sorted."""
        with self._lock:
            return [row[0] for row in self.conn.execute("SELECT id FROM documents ORDER BY id")]

    def ids_for_source(self, source: str) -> list[str]:
        """Ids of documents whose `source` is `source`, sorted."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT id FROM documents WHERE source = ? ORDER BY id", (source,)
            )
            return [row[0] for row in rows]

    def ids_matching(self, flt: Filter) -> list[str]:
        """Ids of the documents whose metadata satisfy `flt`, sorted (a scan of the metadata)."""
        with self._lock:
            rows = self.conn.execute("SELECT id, metadata FROM documents ORDER BY id").fetchall()
        return [row[0] for row in rows if flt.matches(json.loads(row[1]))]

    def metadata_keys(self) -> frozenset[str]:
        """Every top-level metadata key some stored document has (SQLite ``json_each`` over
        the metadata column), cached until the next write, here or by another connection."""
        with self._lock:
            version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
            if self._keys is None or self._keys[0] != version:
                rows = self.conn.execute(
                    "SELECT DISTINCT j.key FROM documents, json_each(documents.metadata) AS j "
                    "WHERE json_type(documents.metadata) = 'object'")
                self._keys = (version, frozenset(row[0] for row in rows))
            return self._keys[1]

    def check_filter(self, flt: Filter | None) -> Filter | None:
        """`flt` unchanged, once each of its keys is a metadata field some stored document
        has; else ValueError naming the key and listing the fields. An empty store accepts
        any filter (there is nothing to check against)."""
        if flt is None:
            return None
        known = self.metadata_keys()
        if not known:
            with self._lock:
                if self.conn.execute("SELECT 1 FROM documents LIMIT 1").fetchone() is None:
                    return flt
        flt.check_keys(known)
        return flt

    def count(self) -> int:
        """How many documents are stored (counted again only after a write, here or by
        another connection: every search asks)."""
        with self._lock:
            version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
            if self._count is None or self._count[0] != version:
                total = int(self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
                self._count = (version, total)
            return self._count[1]

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, id: object) -> bool:
        if not isinstance(id, str):
            return False
        with self._lock:
            row = self.conn.execute("SELECT 1 FROM documents WHERE id = ?", (id,)).fetchone()
            return row is not None

    def iter_documents(self, batch_size: int = 1000) -> Iterator[list[Document]]:
        """Yield all documents in id order, `batch_size` at a time (keyset pagination, so
        concurrent writes never make it skip or repeat a document that stays put)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        last = ""
        while True:
            with self._lock:
                rows = self.conn.execute(
                    f"SELECT {_DOC_COLUMNS} FROM documents WHERE id > ? ORDER BY id LIMIT ?",
                    (last, batch_size),
                ).fetchall()
            if not rows:
                return
            yield [_row_to_document(row) for row in rows]
            last = rows[-1]["id"]

    # Sources ---------------------------------------------------------------------------

    def sources(self) -> dict[str, SourceRecord]:
        """All source records by path."""
        with self._lock:
            rows = self.conn.execute("SELECT * FROM sources ORDER BY path").fetchall()
        return {row["path"]: _row_to_source(row) for row in rows}

    def get_source(self, path: str) -> SourceRecord | None:
        with self._lock:
            row = self.conn.execute("SELECT * FROM sources WHERE path = ?", (path,)).fetchone()
        return None if row is None else _row_to_source(row)

    def set_source(self, record: SourceRecord) -> None:
        """Insert or replace a source record (sets `record.updated`)."""
        record.updated = time.time()
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.path,
                    record.content_hash,
                    float(record.mtime),
                    int(record.size),
                    json.dumps(list(record.doc_ids)),
                    record.updated,
                ),
            )

    def remove_source(self, path: str, *, delete_documents: bool = False) -> SourceRecord | None:
        """Forget a source (and, optionally, its documents); returns the removed record."""
        with self.transaction():
            record = self.get_source(path)
            if record is None:
                return None
            self.conn.execute("DELETE FROM sources WHERE path = ?", (path,))
            if delete_documents:
                self.delete_many(record.doc_ids)
        return record

    # Lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (a WAL checkpoint folds the log into the main file)."""
        with self._lock:
            if self._conn is None:
                return
            if self._depth:
                raise RuntimeError("cannot close the DocStore inside a transaction")
            with contextlib.suppress(sqlite3.OperationalError):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None

    def __enter__(self) -> DocStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"DocStore({str(self.path)!r}, {state})"
