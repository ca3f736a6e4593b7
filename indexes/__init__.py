"""Vector indexes, a lexical index and the document store. Knows nothing of models.

The names below load on first use (PEP 562): ``from nyx.indexes import Filter`` or an error
class does not import FAISS or NumPy, so a command-line client that only asks a running server
starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

_HOMES = {
    "BM25Config": "nyx.indexes.lexical",
    "BackendInfo": "nyx.indexes.manifest",
    "DocStore": "nyx.indexes.docstore",
    "DocSummary": "nyx.indexes.docstore",
    "Document": "nyx.indexes.docstore",
    "EncoderInfo": "nyx.indexes.manifest",
    "EncoderMismatchError": "nyx.indexes.manifest",
    "FaissConfig": "nyx.indexes.faiss_index",
    "FaissIndex": "nyx.indexes.faiss_index",
    "Filter": "nyx.indexes.filters",
    "Hit": "nyx.indexes.base",
    "IndexDirectory": "nyx.indexes.generations",
    "IndexLock": "nyx.indexes.lock",
    "IndexLockedError": "nyx.indexes.lock",
    "LexicalIndex": "nyx.indexes.lexical",
    "Manifest": "nyx.indexes.manifest",
    "QdrantConfig": "nyx.indexes.qdrant_index",
    "QdrantIndex": "nyx.indexes.qdrant_index",
    "SourceRecord": "nyx.indexes.docstore",
    "StaleIndexError": "nyx.indexes.generations",
    "Tokenizer": "nyx.indexes.tokenize",
    "TokenizerConfig": "nyx.indexes.tokenize",
    "VectorIndex": "nyx.indexes.base",
    "analyzer_id": "nyx.indexes.tokenize",
    "atomic_write_bytes": "nyx.indexes.atomic",
    "atomic_write_json": "nyx.indexes.atomic",
    "atomic_write_text": "nyx.indexes.atomic",
    "available_backends": "nyx.indexes.factory",
    "check_checksums": "nyx.indexes.generations",
    "content_hash": "nyx.indexes.docstore",
    "create_index": "nyx.indexes.factory",
    "load_index": "nyx.indexes.factory",
    "register_backend": "nyx.indexes.factory",
}

__all__ = [
    "BM25Config",
    "BackendInfo",
    "DocStore",
    "DocSummary",
    "Document",
    "EncoderInfo",
    "EncoderMismatchError",
    "FaissConfig",
    "FaissIndex",
    "Filter",
    "Hit",
    "IndexDirectory",
    "IndexLock",
    "IndexLockedError",
    "LexicalIndex",
    "Manifest",
    "QdrantConfig",
    "QdrantIndex",
    "SourceRecord",
    "StaleIndexError",
    "Tokenizer",
    "TokenizerConfig",
    "VectorIndex",
    "analyzer_id",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "available_backends",
    "check_checksums",
    "content_hash",
    "create_index",
    "load_index",
    "register_backend",
]

if TYPE_CHECKING:
    from .atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
    from .base import Hit, VectorIndex
    from .docstore import DocStore, DocSummary, Document, SourceRecord, content_hash
    from .factory import available_backends, create_index, load_index, register_backend
    from .faiss_index import FaissConfig, FaissIndex
    from .filters import Filter
    from .generations import IndexDirectory, StaleIndexError, check_checksums
    from .lexical import BM25Config, LexicalIndex
    from .lock import IndexLock, IndexLockedError
    from .manifest import BackendInfo, EncoderInfo, EncoderMismatchError, Manifest
    from .qdrant_index import QdrantConfig, QdrantIndex
    from .tokenize import Tokenizer, TokenizerConfig, analyzer_id


__getattr__, __dir__ = lazy_exports("nyx.indexes", _HOMES, globals())
