"""A question -> passage domain as score matrices: best-chunk dense cosines (vectors cached on
disk) and exact BM25 from a sparse term matrix with the shipped analyzer, checked against
:class:`nyx.indexes.LexicalIndex` on a sample. Shared by the fusion and mixed-corpus studies."""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from nyx.benchmarks.vector_cache import cached_vectors

logger = logging.getLogger(__name__)

__all__ = ["DomainData", "bm25_matrix", "document_pieces", "load_domain", "term_matrix"]


@dataclass
class DomainData:
    name: str
    query_texts: list[str]
    relevant: np.ndarray  # (Q,) index of each query's one relevant document
    dense: np.ndarray  # (Q, D) best-chunk cosine
    doc_terms: sparse.csr_matrix  # (D, V) term counts
    query_terms: sparse.csr_matrix  # (Q, V) term counts
    #: the same with the analyzer before stemming and Unicode folding (str.lower, no stemming)
    legacy_terms: tuple[sparse.csr_matrix, sparse.csr_matrix] | None = None
    bm25: dict[tuple[float, float, bool], np.ndarray] = field(default_factory=dict)

    def lexical(self, k1: float, b: float, legacy: bool = False) -> np.ndarray:
        key = (k1, b, legacy)
        if key not in self.bm25:
            docs, queries = self.legacy_terms if legacy and self.legacy_terms else (
                self.doc_terms, self.query_terms)
            self.bm25[key] = bm25_matrix(docs, queries, k1, b)
        return self.bm25[key]


def bm25_matrix(doc_terms: sparse.csr_matrix, query_terms: sparse.csr_matrix, k1: float,
                b: float) -> np.ndarray:
    """Lucene BM25 of every query for every document, as :class:`LexicalIndex` computes it."""
    n_docs = doc_terms.shape[0]
    df = np.bincount(doc_terms.indices, minlength=doc_terms.shape[1])
    idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
    lengths = np.asarray(doc_terms.sum(axis=1)).ravel().astype(np.float64)
    avg = lengths.mean() if n_docs else 0.0
    norm = k1 * (1.0 - b + b * lengths / avg) if avg > 0 else np.full(n_docs, k1 * (1 - b))
    coo = doc_terms.tocoo()
    tf = coo.data.astype(np.float64)
    weights = idf[coo.col] * tf / (tf + norm[coo.row])
    w = sparse.csr_matrix((weights, (coo.row, coo.col)), shape=doc_terms.shape)
    return np.asarray((query_terms.astype(np.float64) @ w.T).todense())


def document_pieces(texts: list[str]) -> tuple[list[str], list[int]]:
    """What ``Retriever`` embeds for each text (itself, or its chunks past the encoder's
    window), flattened, and the index of the text each piece came from."""
    from nyx.chunking import DEFAULT_MAX_WORDS, chunk_text

    pieces: list[str] = []
    owner: list[int] = []
    for i, text in enumerate(texts):
        chunks = ([text] if len(text.split()) <= DEFAULT_MAX_WORDS
                  else chunk_text(text, DEFAULT_MAX_WORDS))
        pieces += chunks
        owner += [i] * len(chunks)
    return pieces, owner


def term_matrix(token_lists: list[list[str]], vocab: dict[str, int]) -> sparse.csr_matrix:
    """Term counts (rows: texts); terms missing from ``vocab`` are dropped."""
    rows, cols, vals = [], [], []
    for r, tokens in enumerate(token_lists):
        for term, count in Counter(tokens).items():
            if term in vocab:
                rows.append(r)
                cols.append(vocab[term])
                vals.append(count)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(token_lists), len(vocab)))


def load_domain(name: str, queries: int, seed: int, encoder: Any) -> DomainData:
    from nyx.benchmarks.datasets import load_dataset
    from nyx.benchmarks.retrieval import document_text
    from nyx.indexes import Tokenizer, TokenizerConfig

    dataset = load_dataset(name)
    doc_ids = list(dataset.corpus)
    doc_texts = [document_text(dataset.corpus[d]) for d in doc_ids]
    qids = list(dataset.queries)
    rng = np.random.default_rng(seed)
    if len(qids) > queries:
        qids = [qids[i] for i in sorted(rng.choice(len(qids), queries, replace=False))]
    index = {d: i for i, d in enumerate(doc_ids)}
    relevant = np.array([index[next(d for d, g in dataset.qrels[q].items() if g > 0)]
                         for q in qids])
    texts = [dataset.queries[q]["text"] for q in qids]
    pieces, owner = document_pieces(doc_texts)
    doc_vecs = cached_vectors(f"{name}-chunks", encoder.version, pieces,
                              lambda: encoder.encode_documents(pieces, batch_size=64,
                                                               show_progress=True))
    query_vecs = cached_vectors(f"{name}-queries", encoder.version, texts,
                                lambda: encoder.encode_queries(texts, batch_size=128,
                                                               show_progress=True))
    chunk_scores = query_vecs @ doc_vecs.T
    dense = np.full((len(texts), len(doc_texts)), -np.inf, dtype=np.float64)
    np.maximum.at(dense.T, np.asarray(owner), chunk_scores.T)  # best chunk per document
    tokenize = Tokenizer()
    doc_tokens = [tokenize(t) for t in doc_texts]
    query_tokens = [tokenize(t) for t in texts]
    vocab = {t: i for i, t in enumerate(sorted({t for toks in doc_tokens for t in toks}))}
    docs = term_matrix(doc_tokens, vocab)
    queries = term_matrix(query_tokens, vocab)
    data = DomainData(name, texts, relevant, dense, docs, queries)
    old = Tokenizer(TokenizerConfig(stem=False, normalize="lower"))
    old_docs = [old(t) for t in doc_texts]
    old_vocab = {t: i for i, t in enumerate(sorted({t for toks in old_docs for t in toks}))}
    data.legacy_terms = (term_matrix(old_docs, old_vocab),
                         term_matrix([old(t) for t in texts], old_vocab))
    _check_bm25(data, doc_ids, doc_texts)
    return data


def _check_bm25(data: DomainData, doc_ids: list[str], doc_texts: list[str]) -> None:
    """The matrix BM25 must equal Nyx's LexicalIndex (first 20 queries)."""
    from nyx.indexes import BM25Config, LexicalIndex

    index = LexicalIndex(BM25Config(k1=1.2, b=0.75))
    index.add(doc_ids, [t or " " for t in doc_texts])
    matrix = data.lexical(1.2, 0.75)
    position = {d: i for i, d in enumerate(doc_ids)}
    for q, text in enumerate(data.query_texts[:20]):
        for hit in index.search([text], 5)[0]:
            if not math.isclose(hit.score, matrix[q, position[hit.id]], rel_tol=1e-6):
                raise AssertionError(f"BM25 matrix disagrees with LexicalIndex on {data.name}")
