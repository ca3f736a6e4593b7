"""``Retriever``: an encoder, a vector index, a lexical index and a document store in one.

This module is the API (add, delete, get, search) and the search itself. Writing and opening
index folders live in :mod:`nyx.persistence`, stored images in :mod:`nyx.media_store`, ids in
:mod:`nyx.ids`, hits in :mod:`nyx.results` and what is done to them in :mod:`nyx.hits`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
from tqdm.auto import tqdm

from nyx.candidates import CandidateQuery, LocalSource, ModalityIds, Ranking
from nyx.chunking import DEFAULT_MAX_WORDS, embedding_pieces
from nyx.content import Item, ItemLike, as_items
from nyx.encoders import Encoder, load_encoder
from nyx.encoders.registry import check_local_encoder
from nyx.file_text import lexical_text
from nyx.hits import attach, collapse, confident_window, rerank_results
from nyx.hybrid import HybridConfig
from nyx.ids import check_document_ids, default_ids, vector_ids
from nyx.indexes import (
    BM25Config,
    DocStore,
    Document,
    Filter,
    LexicalIndex,
    Manifest,
    VectorIndex,
    create_index,
)
from nyx.media_store import MediaStore
from nyx.persistence import IndexGeneration, open_generation, save_retriever, write_generation
from nyx.prepared import PreparedItem, all_prepared
from nyx.relevance import estimate
from nyx.rerank import (
    CONFIDENT_DEPTH,
    CONFIDENT_MARGIN,
    DEFAULT_RERANK_BLEND,
    DEFAULT_RERANK_CANDIDATES,
    CrossEncoder,
)
from nyx.results import SearchResult
from nyx.search_options import Group, Modality, Mode, RerankScope, SearchOptions
from nyx.served_hybrid import ServedSource, SparseSync

logger = logging.getLogger(__name__)

__all__ = ["Group", "Modality", "Mode", "Retriever", "SearchOptions", "SearchResult"]

#: queries of one search call whose hits are read from the store together
_READ_QUERIES = 256


class Retriever:
    """Mixed-modal search over documents: dense vectors plus BM25 for text queries.

    >>> r = Retriever()                      # nyx-lite + FAISS, in memory
    >>> r.add(["a note about cats", Path("cat.jpg")])
    >>> r.search("a photo of a cat", k=3)
    >>> r.save("my-index"); Retriever.load("my-index")
    """

    def __init__(self, encoder: Encoder | str | None = None,
                 index: VectorIndex | str | None = None, *, lexical: bool | BM25Config = True,
                 hybrid: HybridConfig | None = None, max_words: int = DEFAULT_MAX_WORDS,
                 rerank: CrossEncoder | bool | None = None,
                 rerank_candidates: int = DEFAULT_RERANK_CANDIDATES,
                 **index_params: Any) -> None:
        loaded = load_encoder(encoder or "nyx-lite")
        if not isinstance(index, VectorIndex):
            index = create_index(index or "faiss", loaded.dim, **index_params)
        if isinstance(lexical, BM25Config):
            lexical_index: LexicalIndex | None = LexicalIndex(lexical)
        else:
            lexical_index = LexicalIndex() if lexical else None
        self._assemble(loaded, *loaded.rebuild_spec(), index=index, lexical=lexical_index,
                       hybrid=hybrid or HybridConfig(), max_words=max_words, rerank=rerank,
                       rerank_candidates=rerank_candidates)

    def _assemble(self, encoder: Encoder | None, encoder_spec: str,
                  encoder_options: dict[str, Any], *, index: VectorIndex,
                  lexical: LexicalIndex | None, hybrid: HybridConfig, max_words: int,
                  rerank: CrossEncoder | bool | None, rerank_candidates: int,
                  generation: IndexGeneration | None = None, trust_remote: bool = True) -> None:
        """Every attribute, set in one place for both :meth:`__init__` and :meth:`load`.
        ``encoder`` None: load ``encoder_spec`` on first use."""
        if encoder is not None and index.dim != encoder.dim:
            raise ValueError(f"index dim {index.dim} != encoder {encoder.name} dim "
                             f"{encoder.dim}")
        self._encoder = encoder
        self._encoder_spec, self._encoder_options = encoder_spec, dict(encoder_options)
        self._trust_remote = trust_remote  # False: the folder's encoder is never downloaded
        self.index = index
        self.lexical = lexical
        self.hybrid = hybrid
        self.max_words = max_words
        self.set_reranker(rerank, rerank_candidates)
        self._tmp = tempfile.mkdtemp(prefix="nyx-retriever-")
        # the working folder goes with the retriever: at close(), when it is collected, or
        # at interpreter exit for one never closed (it is this process's, never shared)
        self._remove_tmp = weakref.finalize(self, shutil.rmtree, self._tmp, ignore_errors=True)
        self.media = MediaStore(Path(self._tmp) / "media",
                                generation.media if generation is not None else None)
        store_file = Path(self._tmp) / "docs.sqlite"
        self.store = generation.copy_store(store_file) if generation else DocStore(store_file)
        self.manifest: Manifest | None = generation.manifest if generation else None
        #: the generation folder the encoder's files (a text adapter) are read from
        self.encoder_root: Path | None = generation.folder if generation else None
        #: (index folder, generation) this retriever was loaded from or last saved to
        self.loaded_from: tuple[Path, str] | None = None
        #: sources some of whose documents were deleted (the next build indexes them again)
        self.deleted_sources: set[str] = set()
        self._modality_ids = ModalityIds(self.store)
        #: keeps BM25 weights stored in the vector index (Qdrant) in step with ``lexical``
        self.sparse_sync = SparseSync(index) if index.supports_sparse else None

    # -- writing ----------------------------------------------------------------------------

    def add(self, documents: ItemLike | Sequence[ItemLike] | Sequence[PreparedItem], *,
            batch_size: int = 32, show_progress: bool = False, vectors: np.ndarray | None = None,
            source: str | None = None) -> list[str]:
        """Embed and index documents (replacing any with the same id). Returns their ids.

        ``vectors`` may carry precomputed vectors, one row per embedded piece in order (see
        :meth:`pieces`: a long text has one per chunk); they are used if their count matches.
        The index builder passes prepared items instead (:meth:`prepare`), each hashed and
        chunked once and carrying its vectors.
        """
        ready = all_prepared(documents)
        items = [p.item for p in ready] if ready is not None else as_items(documents)
        if not items:
            return []
        ids = default_ids(items)
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate document ids in one add(): {dupes[:5]}")
        check_document_ids(ids)
        self.delete([i for i in ids if i in self.store])
        items = [self.media.keep(item) for item in items]
        # an item is hashed and chunked as stored (a PIL image as the PNG file it becomes)
        ready = ready if ready is not None else [self.prepare(item) for item in items]
        ids_of_vectors, vector_meta, to_encode, n_vectors = [], [], [], []
        for item, doc_id, prepared in zip(items, ids, ready):
            pieces = prepared.pieces
            n_vectors.append(len(pieces))
            ids_of_vectors += vector_ids(doc_id, len(pieces))
            vector_meta += [{**item.metadata, "_doc": doc_id}] * len(pieces)
            to_encode += pieces
        if vectors is None and all(p.vectors is not None for p in ready):
            vectors = np.concatenate([p.vectors for p in ready if p.vectors is not None])
        if vectors is None or len(vectors) != len(to_encode):
            vectors = self.encoder.encode_documents(to_encode, batch_size=batch_size,
                                                    show_progress=show_progress)
        self.index.upsert(ids_of_vectors, vectors, vector_meta)
        del to_encode, vectors, vector_meta  # a huge document's chunks: free before the store
        self._modality_ids.forget()
        texts = [self._document_text(item) for item in items]
        if self.lexical is not None:
            self.lexical.add(ids, [lexical_text(t, item.metadata.get("source"))
                                   for t, item in zip(texts, items)])
            if self.sparse_sync is not None:
                self.sparse_sync.added(ids)
        self.store.put_many(
            Document(doc_id, {**self.media.to_payload(item), "text": text, "n_vectors": n},
                     dict(item.metadata), source=source or item.metadata.get("source"),
                     content_hash=prepared.content_hash)
            for item, doc_id, text, n, prepared in zip(items, ids, texts, n_vectors, ready)
        )
        return ids

    def prepare(self, item: Item) -> PreparedItem:
        """``item`` hashed and cut into the pieces :meth:`add` embeds, once: hand it to
        :meth:`encode_for_add` and then, with its vectors, to :meth:`add`."""
        return PreparedItem(item, item.content_hash(), self.pieces(item))

    def encode_for_add(self, items: Sequence[Item] | Sequence[PreparedItem],
                       batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """The vectors :meth:`add` would compute for ``items``: one row per embedded piece (a
        chunked text has several), in order."""
        pieces = [p for item in items
                  for p in (item.pieces if isinstance(item, PreparedItem) else self.pieces(item))]
        return self.encoder.encode_documents(pieces, batch_size=batch_size,
                                             show_progress=show_progress)

    def reembed(self, encoder: Encoder, *, batch_size: int = 32,
                show_progress: bool = False) -> int:
        """Replace every vector with ``encoder``'s: the same documents, pieces, ids and
        metadata in a new vector index of the same kind (FAISS only), so that saving writes a
        generation whose vectors all come from ``encoder`` (``nyx-index adapt``, and its undo).
        The lexical index and stored documents are unchanged. Returns the vectors written."""
        from nyx.indexes.faiss_index import FaissIndex

        if not isinstance(self.index, FaissIndex):
            raise ValueError(f"re-embedding supports FAISS indexes; this index keeps its vectors "
                             f"in {self.index.backend_name} - rebuild it with the new encoder")
        fresh = FaissIndex(encoder.dim, config=self.index.config)
        ids = self.store.ids()
        written = 0
        with tqdm(total=len(ids), desc="re-embedding", unit="doc",
                  disable=not show_progress) as bar:
            for start in range(0, len(ids), 256):
                chunk = ids[start:start + 256]
                vector_of, pieces, meta = [], [], []
                for doc_id, item in zip(chunk, self.get(chunk)):
                    if item is None:
                        continue
                    parts = self.pieces(item)
                    vector_of += vector_ids(doc_id, len(parts))
                    meta += [{**item.metadata, "_doc": doc_id}] * len(parts)
                    pieces += parts
                if pieces:
                    fresh.upsert(vector_of, encoder.encode_documents(pieces,
                                                                     batch_size=batch_size),
                                 meta)
                    written += len(pieces)
                bar.update(len(chunk))
        self.index.close()
        self.index = fresh
        self._encoder = encoder
        self._encoder_spec, self._encoder_options = encoder.rebuild_spec()
        self._modality_ids.forget()
        return written

    def media_file(self, path: str) -> Path | None:
        """``path`` if it is an image stored in this index, else ``None`` (see
        :meth:`nyx.media_store.MediaStore.file`). The server serves only these."""
        return self.media.file(path)

    def pieces(self, item: Item) -> list[Item]:
        """What is embedded for ``item`` (see :func:`embedding_pieces`)."""
        return embedding_pieces(item, self.max_words)

    def _document_text(self, item: Item) -> str:
        return self.encoder.document_text(item)

    def reanalyze(self, config: BM25Config | None = None) -> int:
        """Rebuild the lexical index from the stored document texts with ``config`` (default:
        this version's analyzer and BM25 settings). No model runs. Returns the documents
        re-indexed."""
        lexical = LexicalIndex(config or BM25Config())
        ids = self.store.ids()
        for start in range(0, len(ids), 1024):
            docs = self.store.get_many(ids[start:start + 1024], skip_missing=True)
            kept = [d for d in docs if d is not None]
            lexical.add([d.id for d in kept],
                        [lexical_text(str(d.payload.get("text", "")), d.metadata.get("source"))
                         for d in kept])
        self.lexical = lexical
        return lexical.count()

    def set_reranker(self, rerank: CrossEncoder | bool | None,
                     candidates: int = DEFAULT_RERANK_CANDIDATES,
                     blend: float = DEFAULT_RERANK_BLEND,
                     confident_margin: float | None = None,
                     confident_depth: int = CONFIDENT_DEPTH) -> None:
        """Re-score the top ``candidates`` of every text query with a cross-encoder
        (``True``: the default ms-marco MiniLM; ``None``/``False``: no reranking), its score
        weighted ``blend`` against the first stage's (see :func:`nyx.hits.blend_scores`;
        1: the cross-encoder's order alone). With ``confident_margin`` (e.g.
        :data:`nyx.rerank.CONFIDENT_MARGIN`), a query whose first stage is confident (its best
        hit ahead of the second by more than that share of the top ten's spread) has only its
        top ``confident_depth`` re-scored (:func:`nyx.hits.confident_window`): ~3x lower p50
        for a little of the gain; ``None`` (the default): always all ``candidates``."""
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ValueError(f"rerank_candidates must be a positive integer, got {candidates!r}")
        if isinstance(blend, bool) or not isinstance(blend, (int, float)) or \
                not 0.0 <= blend <= 1.0:
            raise ValueError(f"rerank blend must be a number from 0 to 1, got {blend!r}")
        if confident_margin is not None and (
                isinstance(confident_margin, bool)
                or not isinstance(confident_margin, (int, float)) or confident_margin < 0):
            raise ValueError("confident_margin must be a number >= 0 or None (always rerank "
                             f"every candidate), got {confident_margin!r}")
        if isinstance(confident_depth, bool) or not isinstance(confident_depth, int) or \
                confident_depth < 1:
            raise ValueError(f"confident_depth must be a positive integer, got "
                             f"{confident_depth!r}")
        self.rerank_blend = float(blend)
        self.rerank_confident_margin = None if confident_margin is None else float(
            confident_margin)
        self.rerank_confident_depth = confident_depth
        if rerank is True:
            rerank = CrossEncoder()
        elif rerank is not None and rerank is not False and not isinstance(rerank,
                                                                            CrossEncoder):
            raise ValueError(f"rerank must be a CrossEncoder, True or None, got {rerank!r}")
        self.reranker: CrossEncoder | None = rerank or None
        self.rerank_candidates = candidates
        #: the default cross-encoder loaded by a ``search(rerank=...)`` call (not a setting)
        self._on_request_reranker: CrossEncoder | None = None

    def delete(self, ids: str | Iterable[str]) -> int:
        """Remove documents by id (one id or several); returns how many existed."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        self._modality_ids.forget()
        docs = [d for d in self.store.get_many(ids, skip_missing=True) if d is not None]
        if not docs:
            return 0
        self.index.delete([v for doc in docs
                           for v in vector_ids(doc.id, int(doc.payload.get("n_vectors", 1)))])
        if self.lexical is not None:
            self.lexical.delete([d.id for d in docs])
        self.deleted_sources.update(d.source for d in docs if d.source)
        return self.store.delete_many([d.id for d in docs])

    # -- reading ----------------------------------------------------------------------------

    def count(self) -> int:
        return self.store.count()

    def __len__(self) -> int:
        return self.count()

    @overload
    def get(self, ids: str) -> Item | None: ...

    @overload
    def get(self, ids: Sequence[str]) -> list[Item | None]: ...

    def get(self, ids: str | Sequence[str]) -> Item | None | list[Item | None]:
        """One document by id (``None`` if absent), or a list for a list of ids."""
        if isinstance(ids, str):
            return self.get([ids])[0]
        return [self.media.to_item(d) if d else None
                for d in self.store.get_many(list(ids), skip_missing=False)]

    def search(self, query: ItemLike | Sequence[ItemLike], k: int = 10,
               filter: dict[str, Any] | Filter | str | Sequence[str] | None = None,
               mode: Mode = "auto", *, rerank: bool | int | None = None,
               batch_size: int = 64, group: Group = "document",
               min_score: float | None = None, modality: Modality = "any",
               rerank_scope: RerankScope | None = None, options: SearchOptions | None = None
               ) -> list[SearchResult] | list[list[SearchResult]]:
        """Top-``k`` documents for one query (a list of results) or for a list of queries.

        ``mode="auto"`` fuses dense and lexical scores for queries with text and uses dense
        search alone for image queries. A list of strings is a batch of text queries (encoded
        together, ``batch_size`` at a time); wrap an interleaved query in :class:`~nyx.Item`.
        ``rerank`` overrides the retriever's reranker setting for this call: ``True`` reranks
        (with the reranker set, or the default cross-encoder, loaded once), a number ``N``
        reranks the top ``N`` hits instead of ``rerank_candidates``, ``False`` turns it off.
        ``rerank_scope="unsure"`` re-scores only the top :data:`~nyx.rerank.CONFIDENT_DEPTH`
        of a query whose first stage is confident (see :meth:`set_reranker`; the retriever's
        margin, else :data:`~nyx.rerank.CONFIDENT_MARGIN`), ``"all"`` every one of the N;
        left out, the retriever's setting decides.

        ``group="document"`` (the default) returns each file of a ``nyx-index build`` index
        once, scored by its best chunk (``SearchResult.chunk`` says which), and folds files
        with exactly the same passage into one hit (``SearchResult.duplicates``); documents
        without a ``source`` (added through the API) are never grouped or folded.
        ``"chunk"`` returns every stored item (chunk) as it ranks. ``min_score`` drops hits
        whose :attr:`~nyx.results.SearchResult.relevance` (an absolute estimate in [0, 1] for
        text queries; the score where there is none) is below it; ``modality`` keeps only
        documents with an image (``"image"``) or with text (``"text"``), searching among
        those rather than filtering the top hits.

        ``options`` (a :class:`~nyx.SearchOptions`) gives ``mode``, ``rerank``,
        ``rerank_scope``, ``group``, ``min_score`` and ``modality`` in one object, in place of
        those keywords.
        """
        single = isinstance(query, (str, Item, Path, bytes)) or not isinstance(query, Sequence)
        items = as_items(query)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        given = SearchOptions(mode=mode, group=group, modality=modality, min_score=min_score,
                              rerank=rerank, rerank_scope=rerank_scope)
        if options is not None and given != SearchOptions():
            raise ValueError("give the search options as keywords or as options=, not both")
        opts = options or given
        flt = self.store.check_filter(Filter.coerce(filter))  # unknown keys are errors
        if opts.mode in ("lexical", "hybrid") and self.lexical is None:
            raise ValueError("this retriever has no lexical index (created with lexical=False)")
        modes = [self._resolve_mode(item, opts.mode) for item in items]
        need = [i for i, m in enumerate(modes) if m in ("dense", "hybrid")]
        vectors: dict[int, np.ndarray] = {}
        if need:
            encoded = self.encoder.encode_queries([items[i] for i in need],
                                                  batch_size=batch_size)
            vectors = dict(zip(need, encoded))
        reranker = self._reranker_for(opts.rerank)
        margin = self._confident_margin_for(opts.rerank_scope)
        # how many hits each query keeps for the reranker, and how deep its rankings go
        keep = [max(k, opts.rerank_depth or self.rerank_candidates)
                if reranker is not None and item.text else k for item in items]
        depth = [max(n, self.hybrid.candidates) if m == "hybrid" else n
                 for n, m in zip(keep, modes)]
        source = self.candidate_source()
        allowed = None if opts.modality == "any" else self._modality_ids(opts.modality)
        # One vector-index call for every query that needs dense hits (a modality search
        # looks among that modality's documents instead).
        dense_hits: dict[int, dict[str, float]] = {}
        if need and allowed is None:
            found = source.dense_many(np.stack([vectors[i] for i in need]),
                                      max(depth[i] for i in need), flt)
            dense_hits = {i: dict(list(hits.items())[:depth[i]])
                          for i, hits in zip(need, found)}
        lexical_ids = (source.lexical_candidates(flt, allowed)
                       if any(m in ("lexical", "hybrid") for m in modes) else None)
        # and one BM25 call for every query it ranks here (not a hybrid query Qdrant serves)
        local_bm25 = [i for i, m in enumerate(modes) if m == "lexical" or m == "hybrid" and (
            allowed is not None or not source.serves_hybrid)]
        lexical_hits: dict[int, dict[str, float]] = {}
        if local_bm25:
            found = source.bm25_many([items[i].text for i in local_bm25],
                                     max(depth[i] for i in local_bm25), lexical_ids)
            lexical_hits = {i: dict(list(hits.items())[:depth[i]])
                            for i, hits in zip(local_bm25, found)}
        results: list[list[SearchResult]] = []
        for first in range(0, len(items), _READ_QUERIES):
            ranked = [self._rank_one(
                source, CandidateQuery(items[i].text, vectors.get(i), flt, allowed,
                                       lexical_ids, dense_hits.get(i), lexical_hits.get(i)),
                modes[i], keep[i], depth[i], opts.group)
                for i in range(first, min(first + _READ_QUERIES, len(items)))]
            # one store read for these queries' hits (a document many queries found is read
            # and decoded once)
            wanted = list(dict.fromkeys(r.id for hits, _ in ranked for r in hits))
            stored = dict(zip(wanted, self.store.get_many(wanted, skip_missing=False)))
            results += [self._finish_one(hits, found, stored, items[i], modes[i], k, reranker,
                                         margin)
                        for i, (hits, found) in enumerate(ranked, first)]
        if opts.min_score is not None:
            results = [[r for r in hits if r.threshold_score >= opts.min_score]
                       for hits in results]
        return results[0] if single else results

    def candidate_source(self) -> LocalSource:
        """Where this retriever's candidates come from: Qdrant serves hybrid rankings when the
        index holds BM25 weights and is set to (``sparse_fusion``), else the local indexes."""
        if self.sparse_sync is not None and self.lexical is not None and \
                self.index.sparse_fusion is not None:
            return ServedSource(self.index, self.lexical, self.store, self.hybrid,
                                self.sparse_sync)
        return LocalSource(self.index, self.lexical, self.store, self.hybrid)

    def sync_sparse(self) -> int:
        """Write the BM25 weights not yet stored in an index that serves hybrid search (a
        Qdrant collection with sparse vectors); returns how many were written (0 without)."""
        if self.sparse_sync is None or self.lexical is None or \
                self.index.sparse_fusion is None:
            return 0
        return self.sparse_sync.sync(self.lexical, self.store)

    def _resolve_mode(self, item: Item, mode: Mode) -> Mode:
        """``auto`` -> hybrid for a query with text (when there is a lexical index), else
        dense; lexical and hybrid need text."""
        if mode == "auto":
            return "hybrid" if item.text and self.lexical is not None else "dense"
        if mode in ("lexical", "hybrid") and not item.text:
            raise ValueError(f"{mode} search needs a query with text; search an image with "
                             "mode dense (or auto)")
        return mode

    def _reranker_for(self, rerank: bool | int | None) -> CrossEncoder | None:
        """The cross-encoder of one call: the retriever's setting unless ``rerank`` says."""
        if rerank is False:
            return None
        if rerank and self.reranker is None:
            # loaded once for calls that ask; later calls that do not ask are not reranked
            if self._on_request_reranker is None:
                self._on_request_reranker = CrossEncoder()
            return self._on_request_reranker
        return self.reranker

    def _confident_margin_for(self, scope: RerankScope | None) -> float | None:
        """The confident-window margin of one call: the retriever's unless ``scope`` says
        (``"all"``: none, every candidate re-scored; ``"unsure"``: the retriever's margin or
        :data:`~nyx.rerank.CONFIDENT_MARGIN`)."""
        if scope is None:
            return self.rerank_confident_margin
        if scope == "all":
            return None
        return CONFIDENT_MARGIN if self.rerank_confident_margin is None else \
            self.rerank_confident_margin

    def _rank_one(self, source: LocalSource, query: CandidateQuery, mode: Mode, keep: int,
                  n: int, group: Group) -> tuple[list[SearchResult], Ranking]:
        """One query's first ``keep`` hits (not yet read from the store): ``n``-deep
        rankings, grouped, deeper where grouping left fewer than ``keep``."""
        total = self.store.count()
        while True:
            found = source.rank(query, mode, n)
            hits = collapse(found.ranked, source.summaries([i for i, _ in found.ranked]),
                            group, limit=keep)
            # Grouping or collapsing can leave fewer than ``keep`` hits: look deeper.
            if len(hits) >= keep or len(found.ranked) < n or n >= total:
                break
            n *= 4
            # the batched hits were only ``n`` deep
            query.dense_hits = query.lexical_hits = None
        return hits[:keep], found

    def _finish_one(self, results: list[SearchResult], found: Ranking,
                    stored: dict[str, Document | None], item: Item, mode: Mode, k: int,
                    reranker: CrossEncoder | None, margin: float | None) -> list[SearchResult]:
        """One query's hits given their stored documents: reranked (only the confident
        window when ``margin`` is set), given a relevance, the first ``k`` returned."""
        text = item.text
        docs = [stored.get(r.id) for r in results]
        attach(results, docs, [self.media.to_item(d) if d is not None else None for d in docs])
        for r in results:
            r.dense_score, r.lexical_score = found.dense.get(r.id), found.lexical.get(r.id)
        reranked = reranker is not None and bool(text)
        if reranked:
            assert reranker is not None
            window = confident_window([r.score for r in results], margin,
                                      self.rerank_confident_depth)
            results = rerank_results(reranker, text, results, self.rerank_blend, window)
        if text and not item.images:
            self._estimate_relevance(text, mode, results[:k], reranked)
        return results[:k]

    def _estimate_relevance(self, text: str, mode: Mode, results: list[SearchResult],
                            reranked: bool) -> None:
        """Set each hit's :attr:`SearchResult.relevance` (see :mod:`nyx.relevance`)."""
        encoder = self.encoder_spec()[0]
        ceiling = self.lexical.score_ceiling(text) if self.lexical is not None and \
            mode != "dense" else 0.0
        for r in results:
            share = (r.lexical_score or 0.0) / ceiling if ceiling > 0 else 0.0
            r.relevance = estimate(encoder, mode, dense=r.dense_score or 0.0, share=share,
                                   has_text=bool(r.text.strip()))
            if reranked and r.rerank_score is not None:
                # either judge may vouch for it: short keyword queries get low logits (a hit
                # past a confident query's reranked window was not judged)
                judged = estimate(encoder, "rerank", logit=r.rerank_score)
                r.relevance = judged if r.relevance is None else max(r.relevance, judged or 0.0)

    # -- persistence (nyx.persistence) ----------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, sources: dict[str, str] | None = None,
             corpus_root: str | None = None, lock: bool = True,
             reading: dict[str, Any] | None = None) -> Path:
        """Write the retriever as a new generation of the index folder ``path`` (atomic).

        Saving back to the folder it was loaded from is refused with
        :class:`~nyx.indexes.StaleIndexError` when another writer committed a generation since
        the load: that writer's change would be lost. Load again and re-apply the change.
        """
        return save_retriever(self, path, sources=sources, corpus_root=corpus_root, lock=lock,
                              reading=reading)

    def write_generation(self, folder: Path, *, sources: dict[str, str] | None = None,
                         corpus_root: str | None = None,
                         reading: dict[str, Any] | None = None) -> None:
        """Write every file of the index into ``folder`` (a staging generation)."""
        write_generation(self, folder, sources=sources, corpus_root=corpus_root,
                         reading=reading)

    @classmethod
    def load(cls, path: str | os.PathLike[str], encoder: Encoder | str | None = None, *,
             rerank: CrossEncoder | bool | None = None,
             rerank_candidates: int = DEFAULT_RERANK_CANDIDATES,
             trust_remote: bool = False, index_options: dict[str, Any] | None = None,
             **encoder_options: Any) -> Retriever:
        """Open the live generation of an index folder. The encoder defaults to the one that
        built it; a different encoder is refused with a clear message.

        An index folder is data, never an address: the encoder it names is loaded only from
        this machine and a Qdrant server URL written in it is not contacted, unless the caller
        passes ``encoder`` / ``index_options={"url": ...}`` or ``trust_remote=True``.
        """
        generation = open_generation(path, trust_remote=trust_remote,
                                     index_options=index_options)
        spec, options = generation.encoder_spec, generation.encoder_options
        enc = None
        if encoder is not None or encoder_options:
            if encoder is None:
                check_local_encoder(spec, trust_remote)
            enc = load_encoder(encoder or spec, root=generation.folder, **encoder_options)
            generation.manifest.check_encoder(enc.name, enc.version, enc.dim)
        # Without an encoder asked for, the one that built the index is loaded (and checked) on
        # first use: verifying, listing or lexical search never load a model.
        self = cls.__new__(cls)
        self._assemble(enc, spec, options, index=generation.index, lexical=generation.lexical,
                       hybrid=generation.hybrid, max_words=generation.max_words,
                       rerank=rerank, rerank_candidates=rerank_candidates,
                       generation=generation, trust_remote=trust_remote)
        self.loaded_from = (Path(path).resolve(), generation.folder.name)
        return self

    @property
    def built_with(self) -> tuple[str, dict[str, Any]] | None:
        """The encoder name and options a loaded index was built with (``None`` when new)."""
        if self.manifest is None:
            return None
        return self._encoder_spec, dict(self._encoder_options)

    def encoder_spec(self) -> tuple[str, dict[str, Any]]:
        """``(spec, options)`` that rebuild this retriever's encoder (see
        :meth:`nyx.Encoder.rebuild_spec`), without loading it."""
        if self._encoder is None:
            return self._encoder_spec, dict(self._encoder_options)
        return self._encoder.rebuild_spec()

    @property
    def encoder_loaded(self) -> bool:
        """Whether the encoder has been loaded (a loaded index loads it on first use)."""
        return self._encoder is not None

    @property
    def encoder(self) -> Encoder:
        """The encoder; a loaded index loads the one that built it on first use."""
        if self._encoder is None:
            self.check_encoder_is_local()
            enc = load_encoder(self._encoder_spec, root=self.encoder_root,
                               **self._encoder_options)
            if self.manifest is not None:
                self.manifest.check_encoder(enc.name, enc.version, enc.dim)
            self._encoder = enc
        return self._encoder

    @encoder.setter
    def encoder(self, value: Encoder) -> None:
        self._encoder = value

    def check_encoder_is_local(self) -> None:
        """Refuse to fetch the encoder an index folder names from a hub, unless trusted."""
        if self.manifest is not None:
            check_local_encoder(self._encoder_spec, self._trust_remote)

    def close(self) -> None:
        self.store.close()
        self.index.close()
        if self.lexical is not None:
            self.lexical.close()
        self._remove_tmp()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        name = self._encoder.name if self._encoder is not None else self._encoder_spec
        return (f"Retriever(encoder={name!r}, index={type(self.index).__name__}, "
                f"documents={self.count()})")
