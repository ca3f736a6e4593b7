"""Vector indexes, a lexical index and the document store. Knows nothing of models."""

from __future__ import annotations

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
    "check_checksums",
    "available_backends",
    "content_hash",
    "create_index",
    "load_index",
    "register_backend",
]
