"""The retrieval systems compared on one data set, in one process, on the same vectors.

=====================  ======================================================  =============
system                 what it is                                              query input
=====================  ======================================================  =============
``bm25s``              BM25 (Lucene form, k1=1.5, b=0.75) with bm25s directly  text
``minilm-numpy``       raw sentence-transformers (the same MiniLM files) and   text
                       exact numpy search over unchunked document vectors
``qdrant-local``       qdrant-client local mode (``:memory:``), same vectors   vector
``faiss-flat``         ``faiss.IndexFlatIP``, same vectors                     vector
``nyx-dense``          ``Retriever.search(mode="dense")``                      text
``nyx-hybrid-rrf``     ``Retriever`` with ``HybridConfig(method="rrf")``       text
``nyx-hybrid``         ``Retriever`` with the default ``HybridConfig()``       text
=====================  ======================================================  =============

"text" systems are timed end to end (query encoding included); "vector" systems get the query
vector precomputed (in a batch, by the same MiniLM) and are timed on the search alone. Every
system answers every query with its own single-query call; the ranking and the latency come
from the same calls.
"""

from __future__ import annotations

import functools
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nyx.benchmarks.latency import LatencyRecorder

logger = logging.getLogger(__name__)

__all__ = [
    "Bm25sPeer",
    "FaissFlatPeer",
    "MiniLMNumpyPeer",
    "NyxPeer",
    "Peer",
    "QdrantLocalPeer",
    "SystemRun",
    "TextCorpus",
    "nyx_lite",
    "raw_minilm",
    "run_interleaved",
    "top_k_indices",
]


@dataclass
class TextCorpus:
    """Documents and queries as every peer sees them, with precomputed MiniLM vectors."""

    doc_ids: list[str]
    doc_texts: list[str]
    #: unchunked MiniLM document vectors (what the raw, qdrant and faiss peers index)
    doc_vectors: np.ndarray
    query_ids: list[str]
    query_texts: list[str]
    #: MiniLM query vectors, computed in a batch (what the vector-input peers get)
    query_vectors: np.ndarray


@dataclass
class SystemRun:
    """One system's rankings and per-query latencies."""

    name: str
    run: dict[str, list[str]]
    latencies_s: list[float]
    encodes_query: bool
    build_s: float
    description: str
    extra: dict[str, Any] = field(default_factory=dict)


@functools.cache
def nyx_lite(ocr: bool = True) -> Any:
    """nyx-lite, loaded once per process (commands and tests share it)."""
    from nyx import load_encoder

    return load_encoder("nyx-lite", ocr=ocr)


@functools.cache
def raw_minilm() -> Any:
    """The same MiniLM files as a plain SentenceTransformer, loaded once per process."""
    from nyx.encoders.towers import load_text_tower

    return load_text_tower("cpu")


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, best first (ties: lower index first)."""
    return np.argsort(-scores, kind="stable")[:k]


class Peer(ABC):
    """A system under test: built once over the corpus, then asked one query at a time."""

    name: str = "peer"
    encodes_query: bool = False
    description: str = ""

    @abstractmethod
    def build(self, corpus: TextCorpus) -> None:
        """Index the corpus."""

    @abstractmethod
    def search(self, text: str, vector: np.ndarray, k: int, encode: bool = True) -> list[str]:
        """Doc ids for a query (its text and precomputed vector), best first.

        ``encode=False`` lets a text-input system use the precomputed query vector instead of
        running its model: for queries whose latency is not measured.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most peers hold nothing
        """Release memory held by the system."""

    def before_query(self) -> None:  # noqa: B027 - optional hook
        """Called before each timed search (peers sharing one object restore their settings)."""


def run_interleaved(peers: list[Peer], corpus: TextCorpus, k: int, show_progress: bool = True,
                    latency_every: int = 1) -> list[SystemRun]:
    """Build every peer, then ask each query of every peer before moving to the next query.

    Interleaving (in an order that rotates with the query) spreads the load of a shared
    machine evenly over the systems, so their latencies stay comparable when it drifts.
    Every ``latency_every``-th query is timed end to end; the others are ranked with the
    precomputed (batch-encoded, same model) query vector, which saves the per-query encoding
    of the text-input systems on large query sets.
    """
    from tqdm.auto import tqdm

    build_s = []
    for peer in peers:
        start = time.perf_counter()
        peer.build(corpus)
        build_s.append(time.perf_counter() - start)
    recorders = [LatencyRecorder() for _ in peers]
    runs: list[dict[str, list[str]]] = [{} for _ in peers]
    queries = zip(corpus.query_ids, corpus.query_texts, corpus.query_vectors)
    for i, (qid, text, vector) in enumerate(
        tqdm(queries, total=len(corpus.query_ids), desc="queries x systems",
             disable=not show_progress)
    ):
        timed = i % latency_every == 0
        for j in range(len(peers)):
            p = (i + j) % len(peers)
            peers[p].before_query()
            if not timed:
                runs[p][qid] = peers[p].search(text, vector, k, encode=False)
                continue
            with recorders[p].measure():
                runs[p][qid] = peers[p].search(text, vector, k)
    for peer in peers:
        peer.close()
    return [SystemRun(peer.name, run, recorder.durations_s, peer.encodes_query, seconds,
                      peer.description)
            for peer, run, recorder, seconds in zip(peers, runs, recorders, build_s)]


def _import_bm25s() -> Any:
    try:
        import bm25s
    except ImportError as exc:
        raise ImportError("the bm25s baseline needs bm25s, a benchmark dependency: "
                          "pip install 'nyx-retrieval[bench]'") from exc
    return bm25s


class Bm25sPeer(Peer):
    """bm25s at its best setting here: Snowball stemming (PyStemmer), English stopwords, and
    the k1/b chosen for Nyx's own BM25 by leave-one-domain-out (``nyx-bench fusion-domains``)."""

    name = "bm25s"
    encodes_query = True

    def __init__(self, k1: float | None = None, b: float | None = None) -> None:
        from nyx.indexes import BM25Config

        self._bm25s = _import_bm25s()  # before the run spends minutes encoding, not after
        defaults = BM25Config()
        self.k1 = defaults.k1 if k1 is None else k1
        self.b = defaults.b if b is None else b
        self.description = (f"bm25s BM25 (k1={self.k1}, b={self.b}, English stopwords, "
                            "Snowball stemming)")

    def build(self, corpus: TextCorpus) -> None:
        import Stemmer

        self._stemmer = Stemmer.Stemmer("english")
        self._ids = corpus.doc_ids
        self._index = self._bm25s.BM25(k1=self.k1, b=self.b)
        tokens = self._bm25s.tokenize(corpus.doc_texts, stopwords="en", stemmer=self._stemmer,
                                show_progress=False)
        self._index.index(tokens, show_progress=False)

    def search(self, text: str, vector: np.ndarray, k: int, encode: bool = True) -> list[str]:
        tokens = self._bm25s.tokenize([text], stopwords="en", stemmer=self._stemmer,
                                      return_ids=False, show_progress=False)
        if not tokens[0]:
            return []
        docs, scores = self._index.retrieve(tokens, k=min(k, len(self._ids)),
                                            show_progress=False, n_threads=1)
        return [self._ids[int(d)] for d, s in zip(docs[0], scores[0]) if s > 0]


class MiniLMNumpyPeer(Peer):
    name = "minilm-numpy"
    encodes_query = True
    description = "raw sentence-transformers all-MiniLM-L6-v2 (same files) + exact numpy search"

    def __init__(self, model: Any) -> None:
        self.model = model

    def build(self, corpus: TextCorpus) -> None:
        self._ids = corpus.doc_ids
        self._vectors = corpus.doc_vectors

    def search(self, text: str, vector: np.ndarray, k: int, encode: bool = True) -> list[str]:
        query = vector if not encode else self.model.encode(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
        return [self._ids[i] for i in top_k_indices(self._vectors @ query, k)]


class FaissFlatPeer(Peer):
    name = "faiss-flat"
    description = "faiss IndexFlatIP over the same MiniLM vectors (query vector given)"

    def build(self, corpus: TextCorpus) -> None:
        import faiss

        self._ids = corpus.doc_ids
        self._index = faiss.IndexFlatIP(corpus.doc_vectors.shape[1])
        self._index.add(np.ascontiguousarray(corpus.doc_vectors, dtype=np.float32))

    def search(self, text: str, vector: np.ndarray, k: int, encode: bool = True) -> list[str]:
        _, labels = self._index.search(vector[None, :], min(k, len(self._ids)))
        return [self._ids[int(i)] for i in labels[0] if i >= 0]

    def close(self) -> None:
        self._index.reset()


class QdrantLocalPeer(Peer):
    name = "qdrant-local"
    description = "qdrant-client local mode (:memory:, dot product) over the same vectors"

    def build(self, corpus: TextCorpus) -> None:
        from qdrant_client import QdrantClient, models

        self._ids = corpus.doc_ids
        self._client = QdrantClient(location=":memory:")
        self._client.create_collection(
            "bench",
            vectors_config=models.VectorParams(size=corpus.doc_vectors.shape[1],
                                               distance=models.Distance.DOT),
        )
        self._client.upload_collection("bench", vectors=corpus.doc_vectors,
                                       ids=list(range(len(corpus.doc_ids))), batch_size=512)

    def search(self, text: str, vector: np.ndarray, k: int, encode: bool = True) -> list[str]:
        response = self._client.query_points("bench", query=vector.tolist(),
                                             limit=min(k, len(self._ids)))
        return [self._ids[int(p.id)] for p in response.points]

    def close(self) -> None:
        self._client.close()


class NyxPeer(Peer):
    """A shared, already built :class:`nyx.retriever.Retriever`, searched in one mode."""

    encodes_query = True

    def __init__(self, name: str, retriever: Any, mode: str, hybrid: Any | None = None) -> None:
        self.name = name
        self.retriever = retriever
        self.mode = mode
        self.hybrid = hybrid
        config = f", {hybrid.to_dict()}" if hybrid is not None else ""
        self.description = f"nyx Retriever.search(mode={mode!r}{config})"

    def build(self, corpus: TextCorpus) -> None:
        """The shared Retriever is built by the caller."""

    def before_query(self) -> None:
        if self.hybrid is not None:
            self.retriever.hybrid = self.hybrid

    def search(self, text: str, vector: np.ndarray, k: int, encode: bool = True) -> list[str]:
        if encode:
            return [r.id for r in self.retriever.search(text, k=k, mode=self.mode)]
        real = self.retriever.encoder
        self.retriever.encoder = _FixedQueryEncoder(real, vector)
        try:
            return [r.id for r in self.retriever.search(text, k=k, mode=self.mode)]
        finally:
            self.retriever.encoder = real


class _FixedQueryEncoder:
    """Stands in for the encoder during one search: returns a precomputed query vector."""

    def __init__(self, encoder: Any, vector: np.ndarray) -> None:
        self._encoder = encoder
        self._vector = vector

    def encode_queries(self, items: Any, **kwargs: Any) -> np.ndarray:
        return self._vector[None, :]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)
