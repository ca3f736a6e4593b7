"""``Retriever`` against a brute-force reference, under random operation sequences.

A hypothesis state machine adds (and replaces), deletes, searches, saves and reloads documents
with random text (words from a small vocabulary, so queries share words with documents, mixed
with random Unicode words), random Unicode ids, random metadata and filters. After every search
it checks, in every mode (dense, lexical, hybrid, auto):

* a search returns ``min(k, matching documents)`` results, without duplicates (matching: passing
  the filter, and for lexical search sharing a token with the query);
* scores never increase down the list; every hit passes the filter; deleted documents never
  come back;
* dense scores equal a document's best chunk's inner product with the query, and lexical scores
  BM25 computed from its formula over the live documents; the ranking is the reference's
  (ties aside) on exact backends (FAISS flat, Qdrant local) and reaches a recall floor on FAISS
  HNSW built with a deliberately weak graph; hybrid results carry the reference's dense and BM25
  scores and follow :func:`nyx.hybrid.fuse_scores` over the reference's candidates;
* a saved and loaded retriever answers every probe query exactly as before;
* all of this holds too once adds are deferred to spill files (as ``nyx-index build`` does).

The real nyx-lite text model (MiniLM) embeds everything; it is loaded once. Budget and the long
profile: see ``tests/properties.py``.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

pytest.importorskip("hypothesis")

from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from nyx import Item  # noqa: E402
from nyx.hybrid import fuse_scores  # noqa: E402
from nyx.indexes import Filter  # noqa: E402
from nyx.retriever import Retriever, SearchResult  # noqa: E402
from tests.properties import scaled  # noqa: E402

MAX_WORDS = 4  # documents longer than this are embedded in chunks (up to 10 of them)
DENSE_TOL = 2e-4  # float32 inner products, batches of different padding
LEXICAL_TOL = 1e-6
HNSW_MIN_RECALL = 0.8

VOCAB = ["river", "tower", "bridge", "castle", "garden", "coffee", "train", "station", "paris",
         "london", "ancient", "modern", "bell", "clock", "café", "naïve", "Straße", "東京",
         "москва", "ünïcödé", "1889", "42"]
LANGS = ["en", "fr", "日本語"]
TAGS = ["a", "b", "ç"]

_letters = st.characters(blacklist_categories=("Cs", "Z", "Cc", "Cf", "Co", "Cn"))
words = st.one_of(st.sampled_from(VOCAB), st.sampled_from(VOCAB),
                  st.text(_letters, min_size=1, max_size=7))
texts = st.one_of(st.lists(words, min_size=1, max_size=8).map(" ".join),
                  st.lists(words, min_size=12, max_size=40).map(" ".join),
                  # many identical chunks: they crowd other documents out of a chunk search
                  st.tuples(st.sampled_from(VOCAB), st.integers(16, 48)).map(
                      lambda t: " ".join([t[0]] * t[1])))
queries = st.one_of(st.sampled_from(VOCAB), st.lists(words, min_size=1, max_size=4).map(" ".join))
ids = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x1f"),
              min_size=1, max_size=10)
metadata = st.fixed_dictionaries({}, optional={
    "lang": st.sampled_from(LANGS), "year": st.integers(1990, 2000),
    "tags": st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
    "ключ": st.booleans()})
conditions = st.one_of(
    st.sampled_from(LANGS).map(lambda v: {"lang": v}),
    st.lists(st.sampled_from(LANGS), min_size=1, max_size=2, unique=True).map(
        lambda v: {"lang": {"any": v}}),
    st.tuples(st.integers(1989, 2001), st.integers(0, 6)).map(
        lambda t: {"year": {"gte": t[0], "lt": t[0] + t[1]}}),
    st.sampled_from(TAGS).map(lambda v: {"tags": v}),
    st.booleans().map(lambda v: {"ключ": v}))
filters = st.one_of(st.none(), conditions,
                    st.tuples(conditions, conditions).map(lambda c: {**c[0], **c[1]}))
modes = st.sampled_from(["dense", "lexical", "hybrid", "auto"])
PROBES = [("tower bridge", "dense"), ("café river 東京", "lexical"), ("ancient clock", "hybrid"),
          ("london", "hybrid")]


@lru_cache(maxsize=1)
def encoder() -> Any:
    from nyx import load_encoder

    return load_encoder("nyx-lite")


@lru_cache(maxsize=4096)
def query_vector(text: str) -> np.ndarray:
    return encoder().encode_queries([Item([text])])[0].astype(np.float64)


_VECTORS: dict[str, np.ndarray] = {}  # chunk vectors by text (MAX_WORDS is fixed)


@dataclass
class Reference:
    """What the retriever should hold: every live document's text, metadata and chunk vectors."""

    text: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def unknown_key(self, flt: dict[str, Any] | None) -> str | None:
        """A filter key no live document has (the retriever refuses it), or None."""
        keys = {key for meta in self.metadata.values() for key in meta}
        return next((key for key in flt or {} if self.text and key not in keys), None)

    def matching(self, flt: dict[str, Any] | None) -> list[str]:
        parsed = Filter.coerce(flt)
        return [i for i in self.text if parsed is None or parsed.matches(self.metadata[i])]

    def dense(self, query: str, allowed: list[str]) -> dict[str, float]:
        q = query_vector(query)
        return {i: float(np.max(self.vectors[i].astype(np.float64) @ q)) for i in allowed}

    def bm25(self, tokenize: Any, k1: float, b: float, query: str,
             allowed: list[str]) -> dict[str, float]:
        """Okapi BM25 (Lucene idf) over every live document, for the allowed ones."""
        tokens = {i: tokenize(t or " ") for i, t in self.text.items()}
        n = len(tokens)
        avgdl = sum(len(t) for t in tokens.values()) / n if n else 0.0
        scores = dict.fromkeys(allowed, 0.0)
        query_tokens = tokenize(query)
        for term in set(query_tokens):
            df = sum(term in t for t in tokens.values())
            if df == 0:
                continue
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            for i in allowed:
                tf = tokens[i].count(term)
                if tf:
                    norm = k1 * (1.0 - b + b * len(tokens[i]) / avgdl)
                    scores[i] += query_tokens.count(term) * idf * tf / (tf + norm)
        return scores


def assert_ranking(hits: list[SearchResult], reference: dict[str, float], k: int,
                   tol: float, what: str) -> None:
    """The hits are the reference's top ``k``, ties aside: the same score at every rank, and
    each hit's own reference score."""
    expected = sorted(reference.values(), reverse=True)[:k]
    assert len(hits) == len(expected), f"{what}: {len(hits)} hits, want {len(expected)}"
    for rank, (hit, want) in enumerate(zip(hits, expected)):
        assert abs(hit.score - want) <= tol * max(1.0, abs(want)), (
            f"{what}: rank {rank} scores {hit.score}, the reference's is {want}")
        own = reference[hit.id]
        assert abs(hit.score - own) <= tol * max(1.0, abs(own)), (
            f"{what}: {hit.id!r} scores {hit.score}, the reference gives it {own}")


def assert_same_answer(old: list[tuple[str, float]], new: list[tuple[str, float]]) -> None:
    """The same scores at every rank, and the same ids where a score is not tied: equal-score
    documents may come back in another order (a reloaded Qdrant collection re-inserts points),
    and the last score may be tied with documents just below the cut."""
    assert np.allclose([s for _, s in new], [s for _, s in old], atol=1e-6), (old, new)
    scores = [s for _, s in old]
    for rank, ((old_id, score), (new_id, _)) in enumerate(zip(old, new)):
        at_cut = abs(score - scores[-1]) <= 1e-6
        if not at_cut and sum(abs(score - s) <= 1e-6 for s in scores) == 1:
            assert old_id == new_id, (rank, old, new)


class RetrieverMachine(RuleBasedStateMachine):
    """Random add / delete / search / save+load against :class:`Reference`."""

    index: ClassVar[str] = "faiss"
    index_params: ClassVar[dict[str, Any]] = {"kind": "flat"}
    exact: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="nyx-props-"))
        self.retriever = Retriever(encoder=encoder(), index=self.index, max_words=MAX_WORDS,
                                   **self.index_params)
        self.ref = Reference()
        self.gone: set[str] = set()  # deleted and not added again
        self.saves = 0
        self.deferring = False  # adds go to spill files, as in nyx-index build
        self.recall_hits = 0
        self.recall_total = 0

    @initialize(docs=st.lists(st.tuples(ids, texts, metadata), min_size=1, max_size=12,
                              unique_by=lambda d: d[0]))
    def start(self, docs: list[tuple[str, str, dict[str, Any]]]) -> None:
        self._add(docs, precomputed=False)

    # -- writing ----------------------------------------------------------------------------

    def _add(self, docs: list[tuple[str, str, dict[str, Any]]], precomputed: bool) -> None:
        items = [Item([text], meta, doc_id) for doc_id, text, meta in docs]
        pieces = [self._chunk_vectors(item.text) for item in items]
        vectors = np.concatenate(pieces) if precomputed else None
        assert self.retriever.add(items, vectors=vectors) == [d[0] for d in docs]
        for item, chunk_vectors in zip(items, pieces):
            doc_id = item.stable_id()
            self.ref.text[doc_id] = item.text
            self.ref.metadata[doc_id] = dict(item.metadata)
            self.ref.vectors[doc_id] = chunk_vectors
            self.gone.discard(doc_id)

    def _chunk_vectors(self, text: str) -> np.ndarray:
        if text not in _VECTORS:
            _VECTORS[text] = self.retriever.encode_for_add([Item([text])])
        return _VECTORS[text]

    @rule(new=st.lists(st.tuples(ids, texts, metadata), min_size=1, max_size=4,
                       unique_by=lambda d: d[0]),
          data=st.data(), precomputed=st.booleans())
    def add(self, new: list[tuple[str, str, dict[str, Any]]], data: st.DataObject,
            precomputed: bool) -> None:
        if self.ref.text and data.draw(st.booleans(), label="replace one"):
            old = data.draw(st.sampled_from(sorted(self.ref.text)), label="replaced id")
            new = [d for d in new if d[0] != old] + [(old, data.draw(texts), {})]
        self._add(new, precomputed)

    @rule(text=texts, copies=st.lists(st.tuples(ids, st.one_of(st.just({}), st.just({}), metadata)),
                                      min_size=2, max_size=24,
                                      unique_by=lambda d: d[0]))
    def add_copies(self, text: str, copies: list[tuple[str, dict[str, Any]]]) -> None:
        """Documents with one text and different metadata: equal scores, and a filter that
        keeps few of them must still find those few."""
        self._add([(doc_id, text, meta) for doc_id, meta in copies], precomputed=True)

    @precondition(lambda self: not self.deferring)
    @rule()
    def defer_adds(self) -> None:
        """From now on adds go to spill files (as in a build) until something reads them."""
        spill = self.folder / f"spill-{self.saves}"
        self.retriever.index.defer_adds(spill)
        if self.retriever.lexical is not None:
            self.retriever.lexical.defer_adds(spill)
        self.deferring = True

    @precondition(lambda self: bool(self.ref.text))
    @rule(data=st.data(), unknown=st.lists(ids, max_size=2))
    def delete(self, data: st.DataObject, unknown: list[str]) -> None:
        live = sorted(self.ref.text)
        chosen = data.draw(st.lists(st.sampled_from(live), min_size=1, max_size=3, unique=True),
                           label="deleted")
        unknown = [i for i in unknown if i not in self.ref.text]
        assert self.retriever.delete(chosen + unknown) == len(chosen)
        for doc_id in chosen:
            for table in (self.ref.text, self.ref.metadata, self.ref.vectors):
                del table[doc_id]
            self.gone.add(doc_id)

    # -- reading ----------------------------------------------------------------------------

    def _live_words(self) -> st.SearchStrategy[str]:
        """A word of a live document (each document equally likely, so copies weigh more)."""
        return st.sampled_from(sorted(self.ref.text)).flatmap(
            lambda doc_id: st.sampled_from(self.ref.text[doc_id].split()))

    def _live_filters(self) -> st.SearchStrategy[dict[str, Any]]:
        """Filters that some live document passes (often only a few of them do)."""
        found = set()
        for meta in self.ref.metadata.values():
            for key, value in meta.items():
                for v in value if isinstance(value, list) else [value]:
                    found.add((key, v))
        if not found:
            return filters.filter(lambda f: f is not None)
        return st.sampled_from(sorted(found, key=repr)).map(lambda kv: {kv[0]: kv[1]})

    @rule(data=st.data(), k=st.one_of(st.integers(1, 3), st.integers(1, 12)), mode=modes)
    def search(self, data: st.DataObject, k: int, mode: str) -> None:
        # Half the queries use a word of a live document and half the filters a value of
        # live metadata, so that searches match something and filters are selective.
        live = [self._live_words()] if self.ref.text else []
        query = data.draw(st.one_of(queries, *live), label="query")
        flt = data.draw(st.one_of(filters, self._live_filters()), label="filter")
        unknown = self.ref.unknown_key(flt)
        if unknown is not None:
            with pytest.raises(ValueError, match=f"no document has metadata field {unknown!r}"):
                self.retriever.search(query, k=k, mode=mode, filter=flt)
            return
        hits = self.retriever.search(query, k=k, mode=mode, filter=flt)
        assert isinstance(hits, list)
        allowed = self.ref.matching(flt)
        what = f"{mode} search {query!r} k={k} filter={flt}"
        got = [h.id for h in hits]
        assert len(set(got)) == len(got), f"{what}: duplicate ids {got}"
        assert not set(got) & self.gone, f"{what}: deleted documents came back"
        assert set(got) <= set(allowed), f"{what}: {set(got) - set(allowed)} fail the filter"
        scores = [h.score for h in hits]
        assert all(a >= b for a, b in zip(scores, scores[1:])), f"{what}: unsorted {scores}"
        for hit in hits:
            assert hit.metadata == self.ref.metadata[hit.id]
            assert hit.document is not None and hit.document.text == self.ref.text[hit.id]
        if mode == "lexical":
            self._check_lexical(hits, query, k, allowed, what)
        elif mode == "dense":
            self._check_dense(hits, query, k, allowed, what)
        else:
            self._check_hybrid(hits, query, k, allowed, what)

    def _bm25(self, query: str, allowed: list[str]) -> dict[str, float]:
        lexical = self.retriever.lexical
        assert lexical is not None
        return self.ref.bm25(lexical.tokenizer, lexical.config.k1, lexical.config.b, query,
                             allowed)

    def _check_lexical(self, hits: list[SearchResult], query: str, k: int, allowed: list[str],
                       what: str) -> None:
        matching = {i: s for i, s in self._bm25(query, allowed).items() if s > 0}
        assert_ranking(hits, matching, k, LEXICAL_TOL, what)

    def _check_dense(self, hits: list[SearchResult], query: str, k: int, allowed: list[str],
                     what: str) -> None:
        reference = self.ref.dense(query, allowed)
        if self.exact:
            assert_ranking(hits, reference, k, DENSE_TOL, what)
            return
        assert len(hits) == min(k, len(allowed)), f"{what}: {len(hits)} hits"
        for hit in hits:  # approximate search still scores exactly what it finds
            assert abs(hit.score - reference[hit.id]) <= DENSE_TOL, what
        if hits:
            kth = sorted(reference.values(), reverse=True)[len(hits) - 1]
            self.recall_hits += sum(reference[h.id] >= kth - DENSE_TOL for h in hits)
            self.recall_total += len(hits)

    def _check_hybrid(self, hits: list[SearchResult], query: str, k: int, allowed: list[str],
                      what: str) -> None:
        assert len(hits) == min(k, len(allowed)), f"{what}: {len(hits)} of {len(allowed)}"
        dense = self.ref.dense(query, allowed)
        lexical = self._bm25(query, allowed)
        for hit in hits:
            assert hit.dense_score is not None and hit.lexical_score is not None
            assert abs(hit.dense_score - dense[hit.id]) <= DENSE_TOL, what
            assert abs(hit.lexical_score - lexical[hit.id]) <= LEXICAL_TOL * max(
                1.0, lexical[hit.id]), what
        if len(allowed) <= self.retriever.hybrid.candidates:  # every match is a candidate
            fused = fuse_scores(allowed, np.array([dense[i] for i in allowed]),
                                np.array([lexical[i] for i in allowed]), self.retriever.hybrid)
            # dense scores carry float32 noise into the fusion
            assert_ranking(hits, dict(fused), k, 10 * DENSE_TOL, what)

    @invariant()
    def counts_match(self) -> None:
        assert self.retriever.count() == len(self.ref.text)
        assert self.retriever.get(sorted(self.gone)) == [None] * len(self.gone)

    # -- persistence ------------------------------------------------------------------------

    def _answers(self, retriever: Retriever) -> list[list[tuple[str, float]]]:
        return [[(h.id, h.score) for h in retriever.search(q, k=5, mode=mode)]
                for q, mode in PROBES]

    @rule(flt=filters)
    def save_and_load(self, flt: dict[str, Any] | None) -> None:
        flt = None if self.ref.unknown_key(flt) else flt  # refused: see search
        before = self._answers(self.retriever)
        filtered = self.retriever.search("tower", k=4, mode="hybrid", filter=flt)
        self.saves += 1
        path = self.folder / f"index-{self.saves}"
        self.retriever.save(path)
        self.retriever.close()
        self.retriever = Retriever.load(path, encoder=encoder())
        self.deferring = False
        after = self._answers(self.retriever)
        again = [(h.id, h.score) for h in
                 self.retriever.search("tower", k=4, mode="hybrid", filter=flt)]
        for old, new in zip([*before, [(h.id, h.score) for h in filtered]], [*after, again]):
            assert_same_answer(old, new)

    def teardown(self) -> None:
        self.retriever.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.recall_total:
            recall = self.recall_hits / self.recall_total
            assert recall >= HNSW_MIN_RECALL, f"HNSW recall {recall:.2f} over this run"


class FaissFlatMachine(RetrieverMachine):
    index_params: ClassVar[dict[str, Any]] = {"kind": "flat"}


class FaissHnswMachine(RetrieverMachine):
    # A weak graph (4 links, tiny search beam) so that the search really is approximate.
    index_params: ClassVar[dict[str, Any]] = {"kind": "hnsw", "hnsw_m": 4,
                                              "ef_construction": 8, "ef_search": 2}
    exact = False


class QdrantLocalMachine(RetrieverMachine):
    index = "qdrant"
    index_params: ClassVar[dict[str, Any]] = {}


class _Suite:
    @classmethod
    def setUpClass(cls) -> None:
        encoder()  # loaded before the first example, whose deadline it would eat


# A state machine runs a whole operation sequence per example: 2 minutes each at most, on two
# busy cores (they take 1-10 s on an idle one).
class TestFaissFlat(_Suite, FaissFlatMachine.TestCase):  # type: ignore[misc, valid-type]
    settings = scaled(8, deadline_s=120)


class TestFaissHnsw(_Suite, FaissHnswMachine.TestCase):  # type: ignore[misc, valid-type]
    settings = scaled(6, deadline_s=120)


class TestQdrantLocal(_Suite, QdrantLocalMachine.TestCase):  # type: ignore[misc, valid-type]
    settings = scaled(6, deadline_s=120)
