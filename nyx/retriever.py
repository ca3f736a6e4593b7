"""``Retriever``: an encoder, a vector index, a lexical index and a document store in one."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from nyx.chunking import DEFAULT_MAX_WORDS, chunk_text
from nyx.content import ImagePart, Item, ItemLike, as_items
from nyx.encoders import Encoder, load_encoder
from nyx.encoders.registry import remote_reason
from nyx.hybrid import HybridConfig, fuse_scores
from nyx.images import is_image_path
from nyx.indexes import (
    BackendInfo,
    BM25Config,
    DocStore,
    Document,
    EncoderInfo,
    Filter,
    Hit,
    IndexDirectory,
    LexicalIndex,
    Manifest,
    StaleIndexError,
    VectorIndex,
    create_index,
    load_index,
)
from nyx.rerank import DEFAULT_RERANK_CANDIDATES, CrossEncoder
from nyx.served_hybrid import served_hybrid_search, serves_hybrid, sync_sparse

logger = logging.getLogger(__name__)

Mode = Literal["auto", "dense", "lexical", "hybrid"]
#: ``"document"``: the chunks of one file are one hit (its best chunk); ``"chunk"``: every chunk
Group = Literal["document", "chunk"]
#: ``"image"``: documents with an image; ``"text"``: documents with text parts
Modality = Literal["any", "text", "image"]
_CHUNK_SEP = "\x1f"
RETRIEVER_FILE = "retriever.json"
MEDIA_PREFIX = "nyx-media:"


@dataclass
class SearchResult:
    """One hit: the document id, its score, and the document itself."""

    id: str
    score: float
    document: Item | None
    metadata: dict[str, Any] = field(default_factory=dict)
    dense_score: float | None = None
    lexical_score: float | None = None
    #: the document's searchable text: its own text plus text read from its images (OCR)
    text: str = ""
    #: with a reranker: the first-stage (fused) score; ``score`` is then the cross-encoder's
    first_stage_score: float | None = None
    #: the file the hit came from (``nyx-index build`` indexes), else ``None``
    source: str | None = None
    #: which chunk of ``source`` matched best (``id`` is that chunk's id), else ``None``
    chunk: int | None = None
    #: how many chunks of ``source`` were among the candidates (grouped into this hit)
    matched_chunks: int = 1
    #: ids (or files) with exactly the same content, collapsed into this hit
    duplicates: list[str] = field(default_factory=list)


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
        self.encoder = load_encoder(encoder or "nyx-lite")
        self._encoder_spec = getattr(self.encoder, "spec", self.encoder.name)
        self._encoder_options = dict(getattr(self.encoder, "spec_options", {}))
        if isinstance(index, VectorIndex):
            self.index = index
        else:
            self.index = create_index(index or "faiss", self.encoder.dim, **index_params)
        if self.index.dim != self.encoder.dim:
            raise ValueError(f"index dim {self.index.dim} != encoder {self.encoder.name} dim "
                             f"{self.encoder.dim}")
        if isinstance(lexical, BM25Config):
            self.lexical: LexicalIndex | None = LexicalIndex(lexical)
        else:
            self.lexical = LexicalIndex() if lexical else None
        self.hybrid = hybrid or HybridConfig()
        self.max_words = max_words
        self.set_reranker(rerank, rerank_candidates)
        self._tmp = tempfile.mkdtemp(prefix="nyx-retriever-")
        self._media = Path(self._tmp) / "media"
        self._media_ro: Path | None = None
        self.store = DocStore(Path(self._tmp) / "docs.sqlite")
        self.manifest: Manifest | None = None
        self._loaded: tuple[Path, str] | None = None  # (index folder, generation) it came from
        self._trust_remote = True  # the caller chose this encoder
        self._deleted_sources: set[str] = set()
        self._modalities: dict[str, set[str]] | None = None  # see _ids_with
        self._sparse_pending: set[str] = set()  # BM25 weights not yet written to Qdrant

    # -- writing ----------------------------------------------------------------------------

    def add(self, documents: ItemLike | Sequence[ItemLike], *, batch_size: int = 32,
            show_progress: bool = False, vectors: np.ndarray | None = None,
            source: str | None = None) -> list[str]:
        """Embed and index documents (replacing any with the same id). Returns their ids.

        ``vectors`` may carry precomputed document vectors (one per item, unchunked), as the
        index builder does when it resumes from cached shards.
        """
        items = as_items(documents)
        if not items:
            return []
        ids = _default_ids(items)
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate document ids in one add(): {dupes[:5]}")
        bad = [i for i in ids if _CHUNK_SEP in i]
        if bad:  # chunk vectors are keyed "<id>\x1f<n>": such an id would be read as a chunk
            raise ValueError(f"document ids may not contain U+001F (unit separator): {bad[:5]!r}")
        self.delete([i for i in ids if i in self.store])
        items = [self._with_stored_images(item) for item in items]
        vector_ids, vector_meta, to_encode, n_vectors = [], [], [], []
        for item, doc_id in zip(items, ids):
            pieces = self._pieces(item)
            n_vectors.append(len(pieces))
            for n, piece in enumerate(pieces):
                vector_ids.append(doc_id if len(pieces) == 1 else f"{doc_id}{_CHUNK_SEP}{n}")
                vector_meta.append({**item.metadata, "_doc": doc_id})
                to_encode.append(piece)
        if vectors is None or len(vectors) != len(to_encode):
            vectors = self.encoder.encode_documents(to_encode, batch_size=batch_size,
                                                    show_progress=show_progress)
        self.index.upsert(vector_ids, vectors, vector_meta)
        self._modalities = None
        texts = [self._document_text(item) for item in items]
        if self.lexical is not None:
            self.lexical.add(ids, [t or " " for t in texts])
            if getattr(self.index, "has_sparse", False):
                self._sparse_pending.update(ids)
        self.store.put_many(
            Document(doc_id, {**self._payload(item), "text": text, "n_vectors": n},
                     dict(item.metadata), source=source or item.metadata.get("source"),
                     content_hash=item.content_hash())
            for item, doc_id, text, n in zip(items, ids, texts, n_vectors)
        )
        return ids

    def encode_for_add(self, items: list[Item], batch_size: int = 32,
                       show_progress: bool = False) -> np.ndarray:
        """The vectors :meth:`add` would compute for ``items`` (chunked), for caching."""
        pieces = [p for item in items for p in self._pieces(item)]
        return self.encoder.encode_documents(pieces, batch_size=batch_size,
                                             show_progress=show_progress)

    # -- images given as bytes or PIL objects are kept as PNG files beside the index --------

    def _with_stored_images(self, item: Item) -> Item:
        """Every image is kept inside the index (content-addressed): an index never refers to
        files outside its folder, and the server serves media from there only."""
        if not item.images:
            return item
        parts: list[Any] = []
        for part in item.parts:
            if isinstance(part, ImagePart) and part.path is None:
                target = self._media / f"{part.digest()[:24]}.png"
                if not target.exists():
                    self._media.mkdir(parents=True, exist_ok=True)
                    part.load(max_side=None).save(target)
                part = ImagePart(str(target), alt=part.alt)
            elif isinstance(part, ImagePart) and self.media_file(str(part.path)) is None:
                part = ImagePart(str(self._copy_media(Path(str(part.path)))), alt=part.alt)
            parts.append(part)
        return Item(parts, item.metadata, item.id)

    def _copy_media(self, path: Path) -> Path:
        from nyx.paths import open_regular

        # The caller named this file (its symlinks are followed); what is read is one regular
        # file, read once: hashed and copied.
        with open_regular(path.resolve()) as f:
            data = f.read()
        suffix = path.suffix.lower() if is_image_path(path) else ".img"
        target = self._media / f"{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
        if not target.exists():
            self._media.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return target

    def media_file(self, path: str) -> Path | None:
        """``path`` if it is a stored media file of this index (a regular file, not a link,
        directly inside its media folder), else ``None``. The server serves only these."""
        candidate = Path(path)
        for folder in (self._media, self._media_ro):
            if folder is None or candidate.parent != folder:
                continue
            try:
                mode = candidate.lstat().st_mode
            except OSError:
                return None
            return candidate if stat.S_ISREG(mode) else None
        return None

    def _payload(self, item: Item) -> dict[str, Any]:
        data = item.to_dict()
        for entry in data["parts"]:
            image = Path(entry.get("image", ""))
            if "image" in entry and image.parent in (self._media, self._media_ro):
                entry["image"] = MEDIA_PREFIX + image.name
        return data

    def _media_path(self, name: str) -> str:
        for folder in (self._media, self._media_ro):
            if folder is not None and (folder / name).exists():
                return str(folder / name)
        return str(self._media / name)

    def _to_item(self, doc: Document) -> Item:
        data = {k: doc.payload[k] for k in ("id", "parts", "metadata") if k in doc.payload}
        parts = []
        for entry in data.get("parts", []):
            image = entry.get("image", "")
            if image.startswith(MEDIA_PREFIX):
                entry = {**entry, "image": self._media_path(image[len(MEDIA_PREFIX):])}
            parts.append(entry)
        return Item.from_dict({**data, "parts": parts, "id": doc.id, "metadata": doc.metadata})

    def _pieces(self, item: Item) -> list[Item]:
        return embedding_pieces(item, self.max_words)

    def _document_text(self, item: Item) -> str:
        describe = getattr(self.encoder, "document_text", None)
        return describe(item) if describe else item.text

    def reanalyze(self, config: BM25Config | None = None) -> int:
        """Rebuild the lexical index from the stored document texts with ``config`` (default:
        this version's analyzer and BM25 settings). No model runs. Returns the documents
        re-indexed."""
        lexical = LexicalIndex(config or BM25Config())
        ids = self.store.ids()
        for start in range(0, len(ids), 1024):
            docs = self.store.get_many(ids[start:start + 1024], skip_missing=True)
            lexical.add([d.id for d in docs if d is not None],
                        [str(d.payload.get("text", "")) or " " for d in docs if d is not None])
        self.lexical = lexical
        return lexical.count()

    def set_reranker(self, rerank: CrossEncoder | bool | None,
                     candidates: int = DEFAULT_RERANK_CANDIDATES) -> None:
        """Re-score the top ``candidates`` of every text query with a cross-encoder
        (``True``: the default ms-marco MiniLM; ``None``/``False``: no reranking)."""
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ValueError(f"rerank_candidates must be a positive integer, got {candidates!r}")
        if rerank is True:
            rerank = CrossEncoder()
        elif rerank is not None and rerank is not False and not isinstance(rerank,
                                                                            CrossEncoder):
            raise ValueError(f"rerank must be a CrossEncoder, True or None, got {rerank!r}")
        self.reranker: CrossEncoder | None = rerank or None
        self.rerank_candidates = candidates

    def delete(self, ids: str | Iterable[str]) -> int:
        """Remove documents by id (one id or several); returns how many existed."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        self._modalities = None
        docs = [d for d in self.store.get_many(ids, skip_missing=True) if d is not None]
        if not docs:
            return 0
        vector_ids = []
        for doc in docs:
            n = int(doc.payload.get("n_vectors", 1))
            vector_ids += [doc.id] if n == 1 else [f"{doc.id}{_CHUNK_SEP}{j}" for j in range(n)]
        self.index.delete(vector_ids)
        if self.lexical is not None:
            self.lexical.delete([d.id for d in docs])
        self._deleted_sources.update(d.source for d in docs if d.source)
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
        return [self._to_item(d) if d else None for d in self.store.get_many(list(ids),
                                                                         skip_missing=False)]

    def search(self, query: ItemLike | Sequence[ItemLike], k: int = 10,
               filter: dict[str, Any] | Filter | None = None,
               mode: Mode = "auto", *, rerank: bool | None = None,
               batch_size: int = 64, group: Group = "document",
               min_score: float | None = None,
               modality: Modality = "any") -> list[SearchResult] | list[list[SearchResult]]:
        """Top-``k`` documents for one query (a list of results) or for a list of queries.

        ``mode="auto"`` fuses dense and lexical scores for queries with text and uses dense
        search alone for image queries. A list of strings is a batch of text queries (encoded
        together, ``batch_size`` at a time); wrap an interleaved query in :class:`~nyx.Item`.
        ``rerank`` overrides the retriever's reranker setting for this call (``True`` needs
        one set, or loads the default cross-encoder).

        ``group="document"`` (the default) returns each file of a ``nyx-index build`` index
        once, scored by its best chunk (``SearchResult.chunk`` says which), and folds files
        with exactly the same passage into one hit (``SearchResult.duplicates``); documents
        without a ``source`` (added through the API) are never grouped or folded.
        ``"chunk"`` returns every stored item (chunk) as it ranks. ``min_score`` drops hits
        scoring below it; ``modality`` keeps only documents with an image (``"image"``) or
        with text (``"text"``), searching among those rather than filtering the top hits.
        """
        single = isinstance(query, (str, Item, Path, bytes)) or not isinstance(query, Sequence)
        items = as_items(query)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if mode not in ("auto", "dense", "lexical", "hybrid"):
            raise ValueError(f"unknown mode {mode!r}: use auto, dense, lexical or hybrid")
        if group not in ("document", "chunk"):
            raise ValueError(f"unknown group {group!r}: use document or chunk")
        if modality not in ("any", "text", "image"):
            raise ValueError(f"unknown modality {modality!r}: use any, text or image")
        if min_score is not None and (isinstance(min_score, bool)
                                      or not isinstance(min_score, (int, float))):
            raise ValueError(f"min_score must be a number, got {min_score!r}")
        flt = Filter.coerce(filter)
        if mode in ("lexical", "hybrid") and self.lexical is None:
            raise ValueError("this retriever has no lexical index (created with lexical=False)")
        modes = [self._resolve_mode(item, mode) for item in items]
        need = [i for i, m in enumerate(modes) if m in ("dense", "hybrid")]
        vectors: dict[int, np.ndarray] = {}
        if need:
            encoded = self.encoder.encode_queries([items[i] for i in need],
                                                  batch_size=batch_size)
            vectors = dict(zip(need, encoded))
        reranker = self.reranker
        if rerank and reranker is None:
            reranker = self.reranker = CrossEncoder()
        elif rerank is False:
            reranker = None
        allowed = None if modality == "any" else self._ids_with(modality)
        # One vector-index call for every query that needs dense hits (a modality search
        # looks among that modality's documents instead).
        dense_hits: dict[int, dict[str, float]] = {}
        if need and allowed is None:
            depths = [self._depth(items[i], k, modes[i], reranker) for i in need]
            found = self._dense_many(np.stack([vectors[i] for i in need]), max(depths), flt)
            dense_hits = {i: dict(list(hits.items())[:d])
                          for i, d, hits in zip(need, depths, found)}
        lexical_ids = (self._lexical_candidates(flt, allowed)
                       if any(m in ("lexical", "hybrid") for m in modes) else None)
        results = [self._search_one(item, k, flt, m, vectors.get(i), reranker,
                                    dense_hits.get(i), group=group, allowed=allowed,
                                    lexical_ids=lexical_ids)
                   for i, (item, m) in enumerate(zip(items, modes))]
        if min_score is not None:
            results = [[r for r in hits if r.score >= min_score] for hits in results]
        return results[0] if single else results

    def _depth(self, item: Item, k: int, mode: Mode, reranker: CrossEncoder | None) -> int:
        """How many documents each ranking must deliver for this query."""
        depth = max(k, self.rerank_candidates) if reranker is not None and item.text else k
        return max(depth, self.hybrid.candidates) if mode == "hybrid" else depth

    def _resolve_mode(self, item: Item, mode: Mode) -> Mode:
        text = item.text
        if mode == "auto":
            return "hybrid" if text and self.lexical is not None else "dense"
        if mode in ("lexical", "hybrid") and not text:
            raise ValueError(f"{mode} search needs a query with text; search an image with "
                             "mode dense (or auto)")
        return mode

    def _search_one(self, item: Item, k: int, flt: Filter | None, mode: Mode,
                    query_vector: np.ndarray | None, reranker: CrossEncoder | None = None,
                    dense_hits: dict[str, float] | None = None, *, group: Group = "chunk",
                    allowed: set[str] | None = None,
                    lexical_ids: Iterable[str] | None = None) -> list[SearchResult]:
        text = item.text
        depth = max(k, self.rerank_candidates) if reranker is not None and text else k
        n = self._depth(item, k, mode, reranker)
        total = self.store.count()
        while True:
            ranked, dense, lexical = self._rank(text, mode, n, flt, query_vector, allowed,
                                                dense_hits, lexical_ids)
            docs = self.store.get_many([i for i, _ in ranked], skip_missing=False)
            pairs = _collapse(ranked, docs, group)
            # Grouping or collapsing can leave fewer than ``depth`` hits: look deeper.
            if len(pairs) >= depth or len(ranked) < n or n >= total:
                break
            n *= 4
            dense_hits = None  # the batched dense hits were only ``n`` deep
        results = []
        for r, doc in pairs[:depth]:
            r.document = self._to_item(doc) if doc is not None else None
            r.dense_score, r.lexical_score = dense.get(r.id), lexical.get(r.id)
            results.append(r)
        if reranker is not None and text:
            results = _rerank(reranker, text, results)
        return results[:k]

    def _rank(self, text: str, mode: Mode, n: int, flt: Filter | None,
              query_vector: np.ndarray | None, allowed: set[str] | None,
              dense_hits: dict[str, float] | None = None,
              lexical_ids: Iterable[str] | None = None
              ) -> tuple[list[tuple[str, float]], dict[str, float], dict[str, float]]:
        """The ``n`` best ``(id, score)`` pairs, with the dense and lexical scores seen."""
        dense: dict[str, float] = {}
        lexical: dict[str, float] = {}
        # both rankings come from Qdrant (not for a modality-restricted search: local path)
        served = mode == "hybrid" and allowed is None and serves_hybrid(self)
        if mode in ("dense", "hybrid") and not served:
            assert query_vector is not None
            dense = (dict(dense_hits) if dense_hits is not None
                     else self._dense(query_vector, n, flt, allowed))
        if mode in ("lexical", "hybrid") and not served:
            lexical = self._lexical(text, n, lexical_ids)
        if mode == "dense":
            ranked = sorted(dense.items(), key=lambda kv: -kv[1])
        elif mode == "lexical":
            ranked = sorted(lexical.items(), key=lambda kv: -kv[1])
        elif served:
            assert query_vector is not None
            ranked, dense, lexical = served_hybrid_search(self, text, query_vector, n, n, flt)
        else:
            ids = list(dict.fromkeys([*dense, *lexical]))
            in_dense = np.array([i in dense for i in ids], dtype=bool)
            in_lexical = np.array([i in lexical for i in ids], dtype=bool)
            self._fill_dense(dense, ids, query_vector)
            missing = [i for i in ids if i not in lexical]
            if missing and self.lexical is not None:
                lexical.update(zip(missing, self.lexical.get_scores(text, missing).tolist()))
            ranked = fuse_scores(ids, np.array([dense[i] for i in ids]),
                                 np.array([lexical[i] for i in ids]), self.hybrid,
                                 in_dense=in_dense, in_lexical=in_lexical)
        return ranked, dense, lexical

    def _ids_with(self, modality: Modality) -> set[str]:
        """Ids of the documents with an image (``"image"``) or with text (``"text"``); read
        from the store once and kept until the next add or delete."""
        if self._modalities is None:
            kinds: dict[str, set[str]] = {"text": set(), "image": set()}
            for batch in self.store.iter_documents(2000):
                for doc in batch:
                    parts = doc.payload.get("parts") or []
                    if any("image" in p for p in parts):
                        kinds["image"].add(doc.id)
                    if any("text" in p for p in parts):
                        kinds["text"].add(doc.id)
            self._modalities = kinds
        return self._modalities[modality]

    def _dense(self, vector: np.ndarray, n: int, flt: Filter | None,
               allowed: set[str] | None = None) -> dict[str, float]:
        return self._dense_many(vector[None, :], n, flt, allowed)[0]

    def _dense_many(self, vectors: np.ndarray, n: int, flt: Filter | None,
                    allowed: set[str] | None = None) -> list[dict[str, float]]:
        """The ``n`` best documents for each query vector, by their best chunk's score.

        One index search serves every vector. A document with many chunks may fill a query's
        hits alone: that query alone is searched again, twice as wide each time, until ``n``
        documents are among its hits or the index has no more matching vectors.
        """
        total = self.index.count()
        fetch = min(n * 4 if total > self.store.count() else n, max(total, 1))
        out = []
        for vector, hits in zip(vectors, self.index.search(vectors, fetch, flt)):
            width, best = fetch, _best_chunks(hits, allowed)
            while len(best) < n and len(hits) >= width and width < total:
                width = min(width * 2, total)
                hits = self.index.search(vector[None, :], width, flt)[0]
                best = _best_chunks(hits, allowed)
            out.append(dict(sorted(best.items(), key=lambda kv: -kv[1])[:n]))
        return out

    def _fill_dense(self, dense: dict[str, float], ids: list[str],
                    vector: np.ndarray | None) -> None:
        missing = [i for i in ids if i not in dense]
        if not missing or vector is None:
            return
        docs = self.store.get_many(missing, skip_missing=False)
        for doc_id, doc in zip(missing, docs):
            n = int(doc.payload.get("n_vectors", 1)) if doc else 1
            vids = [doc_id] if n == 1 else [f"{doc_id}{_CHUNK_SEP}{j}" for j in range(n)]
            dense[doc_id] = float(np.max(self.index.get_vectors(vids) @ vector))

    def _lexical_candidates(self, flt: Filter | None,
                            allowed: set[str] | None) -> Iterable[str] | None:
        """The documents BM25 may return (``None``: all): the filter's matches (a scan of the
        store's metadata, done once per search call), within ``allowed``."""
        if flt is None:
            return allowed
        matching = self.store.ids_matching(flt)
        return matching if allowed is None else [i for i in matching if i in allowed]

    def _lexical(self, text: str, n: int,
                 candidates: Iterable[str] | None) -> dict[str, float]:
        assert self.lexical is not None
        hits = self.lexical.search([text], n, allowed_ids=candidates)[0]
        return {h.id: h.score for h in hits}

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, sources: dict[str, str] | None = None,
             corpus_root: str | None = None, lock: bool = True) -> Path:
        """Write the retriever as a new generation of the index folder ``path`` (atomic).

        Saving back to the folder it was loaded from is refused with
        :class:`~indexes.StaleIndexError` when another writer committed a generation since
        the load: that writer's change would be lost. Load again and re-apply the change.
        """
        directory = IndexDirectory(path)
        Path(path).mkdir(parents=True, exist_ok=True)
        guard = directory.lock().acquire() if lock else None
        try:
            self._check_not_stale(directory)
            staging = directory.begin(copy_current=False)
            self.write_generation(staging, sources=sources, corpus_root=corpus_root)
            committed = directory.commit(staging)
            self._loaded = (Path(path).resolve(), committed.name)
            return committed
        finally:
            if guard is not None:
                guard.release()

    def _check_not_stale(self, directory: IndexDirectory) -> None:
        if self._loaded is None or self._loaded[0] != directory.root.resolve():
            return
        live = directory.current_name()
        if live != self._loaded[1]:
            raise StaleIndexError(
                f"{directory.root} changed since this retriever loaded it: {self._loaded[1]} "
                f"was live then, {live} is now (another process saved or built it). Saving "
                "would undo that change; load the index again and re-apply yours")

    def write_generation(self, folder: Path, *, sources: dict[str, str] | None = None,
                         corpus_root: str | None = None) -> None:
        """Write every file of the index into ``folder`` (a staging generation)."""
        if serves_hybrid(self):
            sync_sparse(self)
        self.index.save(folder / "vectors")
        if self.lexical is not None:
            self.lexical.save(folder / "lexical")
        _backup_sqlite(self.store, folder / "docs.sqlite")
        for media in (self._media_ro, self._media):
            if media is not None and media.is_dir():
                shutil.copytree(media, folder / "media", dirs_exist_ok=True,
                                copy_function=_link_or_copy)
        previous = self.manifest
        if sources is None and previous is not None and self._deleted_sources:
            # A file with deleted documents is no longer indexed as it is on disk: dropping it
            # from the manifest makes the next build index it again.
            sources = {rel: digest for rel, digest in previous.sources.items()
                       if rel not in self._deleted_sources}
        if self._encoder is None and previous is not None:
            # A loaded index whose encoder never ran (deletes only): no model is needed to save.
            encoder_info = previous.encoder
            spec, options = self._encoder_spec, dict(self._encoder_options)
        else:
            encoder_info = EncoderInfo(self.encoder.name, self.encoder.version, self.encoder.dim)
            spec = getattr(self.encoder, "spec", self.encoder.name)
            options = getattr(self.encoder, "spec_options", {})
        manifest = Manifest(
            encoder=encoder_info,
            backend=BackendInfo(type(self.index).__name__, dict(self.index.params)),
            corpus_root=corpus_root or (previous.corpus_root if previous else None),
            sources=dict(sources if sources is not None else
                         (previous.sources if previous else {})),
            counts={"documents": self.store.count(), "vectors": self.index.count(),
                    "lexical": self.lexical.count() if self.lexical else 0},
            analyzer=self.lexical.analyzer_id() if self.lexical else None,
        )
        if previous is not None:
            manifest.created = previous.created
        manifest.save(folder)
        settings = {"encoder": spec, "encoder_options": options,
                    "hybrid": self.hybrid.to_dict(), "max_words": self.max_words,
                    "lexical": self.lexical is not None}
        (folder / RETRIEVER_FILE).write_text(json.dumps(settings, indent=2))
        self.manifest = manifest

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
        directory = IndexDirectory(path)
        folder = directory.current()
        if folder is None:
            raise FileNotFoundError(f"no index at {path}: build one with `nyx-index build`")
        manifest = Manifest.load(folder)
        settings = _read_settings(folder / RETRIEVER_FILE)
        self = cls.__new__(cls)
        self.manifest = manifest
        self._trust_remote = trust_remote
        if encoder is None and not encoder_options:
            # The encoder that built the index, loaded (and checked) on first use: verifying,
            # listing or lexical search never load a model.
            self._encoder, self._encoder_spec = None, settings["encoder"]
            self._encoder_options = settings.get("encoder_options", {})
        else:
            self._encoder_spec = settings["encoder"]
            self._encoder_options = settings.get("encoder_options", {})
            if encoder is None:
                self._check_local_encoder()
            enc = load_encoder(encoder or settings["encoder"], **encoder_options)
            manifest.check_encoder(enc.name, enc.version, enc.dim)
            self.encoder = enc
        index_options = dict(index_options or {})
        remote = _remote_vectors(folder / "vectors")
        if remote and not trust_remote and "url" not in index_options:
            raise ValueError(
                f"{path} keeps its vectors on a Qdrant server at {remote}; an index folder is "
                "not trusted to name a server. Pass index_options={'url': ...} (nyx-index: "
                "--qdrant-url) or trust_remote=True (--trust-remote) to connect")
        self.index = load_index(folder / "vectors", **index_options)
        self.lexical = LexicalIndex.load(folder / "lexical") if settings["lexical"] else None
        if (self.lexical is not None and manifest.analyzer is not None
                and manifest.analyzer != self.lexical.analyzer_id()):
            raise ValueError(
                f"{folder}: the manifest records lexical analyzer {manifest.analyzer!r} but the "
                f"BM25 index was written with {self.lexical.analyzer_id()!r}; the folder is "
                "inconsistent: rebuild it with `nyx-index build` (or restore it from a copy)")
        self.hybrid = HybridConfig(**settings["hybrid"])
        self.max_words = int(settings["max_words"])
        self.set_reranker(rerank, rerank_candidates)
        self._tmp = tempfile.mkdtemp(prefix="nyx-retriever-")
        self._media = Path(self._tmp) / "media"
        self._media_ro = folder / "media" if (folder / "media").is_dir() else None
        # Work on a private copy so that the committed generation is never modified.
        shutil.copyfile(folder / "docs.sqlite", Path(self._tmp) / "docs.sqlite")
        self.store = DocStore(Path(self._tmp) / "docs.sqlite")
        self._loaded = (Path(path).resolve(), folder.name)
        self._deleted_sources = set()
        self._modalities = None
        self._sparse_pending = set()
        return self

    @property
    def built_with(self) -> tuple[str, dict[str, Any]] | None:
        """The encoder name and options a loaded index was built with (``None`` when new)."""
        if self.manifest is None:
            return None
        return self._encoder_spec, dict(self._encoder_options)

    @property
    def encoder(self) -> Encoder:
        """The encoder; a loaded index loads the one that built it on first use."""
        if self._encoder is None:
            self._check_local_encoder()
            enc = load_encoder(self._encoder_spec, **self._encoder_options)
            if self.manifest is not None:
                self.manifest.check_encoder(enc.name, enc.version, enc.dim)
            self._encoder = enc
        return self._encoder

    @encoder.setter
    def encoder(self, value: Encoder) -> None:
        self._encoder = value

    def _check_local_encoder(self) -> None:
        """Refuse to fetch the encoder an index folder names from a hub, unless trusted."""
        if self.manifest is None or getattr(self, "_trust_remote", True):
            return
        reason = remote_reason(self._encoder_spec)
        if reason is not None:
            raise ValueError(
                f"this index names encoder {self._encoder_spec!r}: {reason}. An index folder "
                "is not trusted to make Nyx download a model: pass the encoder yourself "
                "(encoder=..., nyx-index --model) or trust_remote=True (--trust-remote)")

    def close(self) -> None:
        self.store.close()
        self.index.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        name = self._encoder.name if self._encoder is not None else self._encoder_spec
        return (f"Retriever(encoder={name!r}, index={type(self.index).__name__}, "
                f"documents={self.count()})")


def _default_ids(items: list[Item]) -> list[str]:
    """Each item's id: its own, else the file name of a lone image given as a path (the path
    as given where two images in one call share a name), else a hash of its content."""
    names = [_image_name(item) for item in items]
    taken = [n for n in names if n is not None]
    ids = []
    for item, name in zip(items, names):
        if item.id is not None or name is None:
            ids.append(item.stable_id())
        elif taken.count(name) > 1:
            path = item.images[0].path
            assert path is not None
            ids.append(path.as_posix())
        else:
            ids.append(name)
    return ids


def _image_name(item: Item) -> str | None:
    if item.id is not None or len(item.parts) != 1 or not item.images:
        return None
    path = item.images[0].path
    return path.name if path is not None else None


def _collapse(ranked: list[tuple[str, float]], docs: list[Document | None],
              group: Group) -> list[tuple[SearchResult, Document | None]]:
    """Hits from ranked ``(id, score)`` pairs, each with its stored document. With
    ``group="document"`` the chunks of one file are one hit and files whose best passage has
    exactly the same content collapse into the first; ``"chunk"`` keeps every stored item."""
    hits: list[tuple[SearchResult, Document | None]] = []
    by_key: dict[str, SearchResult | None] = {}  # None: collapsed into another hit
    by_content: dict[str, SearchResult] = {}
    for (doc_id, score), doc in zip(ranked, docs):
        meta = dict(doc.metadata) if doc else {}
        source = meta.get("source") if isinstance(meta.get("source"), str) else None
        chunk = meta.get("chunk") if isinstance(meta.get("chunk"), int) else None
        key = source if group == "document" and source and chunk is not None else doc_id
        if key in by_key:
            seen = by_key[key]
            if seen is not None:
                seen.matched_chunks += 1
            continue
        # Only what was read from files (nyx-index build sets ``source``) folds together:
        # documents added through the API stay apart, however alike.
        content = doc.content_hash if doc is not None and group == "document" and \
            source is not None else ""
        original = by_content.get(content) if content else None
        if original is not None:
            # the same content (a copied file, a repeated boilerplate chunk): one hit
            by_key[key] = None
            original.duplicates.append(key)
            continue
        hit = SearchResult(doc_id, score, None, meta,
                           text=str(doc.payload.get("text", "")) if doc else "",
                           source=source, chunk=chunk)
        by_key[key] = hit
        if content:
            by_content[content] = hit
        hits.append((hit, doc))
    return hits
def embedding_pieces(item: Item, max_words: int) -> list[Item]:
    """What is embedded for ``item``: text-only documents longer than the encoder's window
    are embedded in chunks of ``max_words``, anything else as one piece."""
    if item.modality != "text" or len(item.text.split()) <= max_words:
        return [item]
    return [Item([c]) for c in chunk_text(item.text, max_words)]


def _best_chunks(hits: Sequence[Hit], allowed: set[str] | None) -> dict[str, float]:
    """Document id -> the score of its best chunk among ``hits`` (within ``allowed``)."""
    best: dict[str, float] = {}
    for hit in hits:
        doc = hit.id.split(_CHUNK_SEP, 1)[0]
        if allowed is not None and doc not in allowed:
            continue
        if doc not in best or hit.score > best[doc]:
            best[doc] = hit.score
    return best


def _rerank(reranker: CrossEncoder, query: str,
            results: list[SearchResult]) -> list[SearchResult]:
    """Re-order the results that have text by the cross-encoder's score. Results without text
    (an image with nothing read from it) keep their first-stage positions."""
    slots = [n for n, r in enumerate(results) if r.text.strip()]
    if not slots:
        return results
    scores = reranker.score(query, [results[n].text for n in slots])
    ranked = sorted(range(len(slots)), key=lambda j: (-float(scores[j]), j))
    out = list(results)
    for slot, j in zip(slots, ranked):
        r = results[slots[j]]
        r.first_stage_score, r.score = r.score, float(scores[j])
        out[slot] = r
    return out


_SETTINGS_TYPES: dict[str, type] = {"encoder": str, "hybrid": dict, "max_words": int,
                                    "lexical": bool}


def _read_settings(file: Path) -> dict[str, Any]:
    """``retriever.json``, checked: a damaged file is a clear error, not a KeyError."""
    try:
        settings = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{file} is missing; the index is incomplete - rebuild it"
                                ) from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{file} cannot be read ({exc}); rebuild the index") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{file} is not a JSON object; rebuild the index")
    for key, kind in _SETTINGS_TYPES.items():
        if not isinstance(settings.get(key), kind):
            raise ValueError(f"{file} has no valid {key!r} ({kind.__name__}); rebuild the index")
    return settings


def _remote_vectors(folder: Path) -> str | None:
    """The server URL a saved vector index names, if any (read, never contacted)."""
    try:
        config = json.loads((folder / "index.json").read_text(encoding="utf-8")).get("config")
    except (OSError, ValueError, AttributeError):
        return None  # load_index reports a damaged file with its own message
    url = config.get("url") if isinstance(config, dict) else None
    return str(url) if url else None


def _link_or_copy(src: str, dst: str) -> None:
    """Media files never change once written, so generations can share them."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _backup_sqlite(store: DocStore, target: Path) -> None:
    """Copy the live store into ``target`` consistently (SQLite's online backup)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    dest = sqlite3.connect(str(target))
    try:
        store.conn.backup(dest)
        dest.commit()
    finally:
        dest.close()
