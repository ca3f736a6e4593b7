"""Nyx's own :class:`nyx.retriever.Retriever` (dense + BM25 hybrid) as a retriever module."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from nyx.content import Item
from nyx.ensemble.cache import DiskCache
from nyx.ensemble.config import ConfigBuilder
from nyx.ensemble.passages import Corpus
from nyx.ensemble.retrievers.base import Query, RetrieverModule
from nyx.results import SearchResult, image_refs
from nyx.search_options import SearchOptions

logger = logging.getLogger(__name__)

__all__ = ["NyxRetriever"]


class NyxRetriever(RetrieverModule):
    """Wraps a Nyx ``Retriever``: a built one, a saved index folder, or a corpus to index.

    >>> NyxRetriever(retriever=my_retriever)              # already built
    >>> NyxRetriever(index="indexes/squad")               # Retriever.load(path)
    >>> NyxRetriever(corpus=Corpus({...}), encoder="nyx-lite", mode="hybrid")
    """

    component_fields: ClassVar[tuple[str, ...]] = ("corpus", "retriever")
    searches_natively: ClassVar[bool] = True
    #: a built Retriever is identified by its passages (data_identity), not as an object
    volatile_fields: ClassVar[tuple[str, ...]] = ("retriever",)

    def __init__(self, retriever: Any = None, *, index: str | None = None,
                 corpus: Corpus | None = None, encoder: str = "nyx-lite", mode: str = "auto",
                 cache: DiskCache | None = None) -> None:
        super().__init__(cache)
        if sum(x is not None for x in (retriever, index, corpus)) != 1:
            raise ValueError("give exactly one of retriever= (a nyx Retriever), index= (a saved "
                             "index folder) or corpus= (passages to index)")
        SearchOptions(mode=mode)  # an unknown mode is refused here, naming the choices
        self.retriever = retriever
        self.index = index
        self.corpus = Corpus.resolve(corpus) if corpus is not None else None
        self.encoder = encoder
        self.mode = mode
        self._fingerprint: str | None = None
        self._follow: str | None = None  # see follow_index
        self._failed: str | None = None
        self._retired: Any = None
        self._swap = threading.Lock()

    def follow_index(self, folder: str | os.PathLike[str]) -> NyxRetriever:
        """Serve the live generation of ``folder`` whatever it becomes: each :meth:`load` reads
        its ``CURRENT`` (a small file) and, after a rebuild, opens the new generation (the
        same encoder object when it still fits) in place of the old one. A caller that
        holds the old retriever (a query in flight) finishes on it."""
        self._follow = str(folder)
        return self

    @property
    def generation(self) -> str | None:
        """The generation the retriever was loaded from (None for one built in memory)."""
        loaded = getattr(self.retriever, "loaded_from", None)
        return loaded[1] if loaded else None

    @classmethod
    def from_config(cls, config: Any, builder: ConfigBuilder) -> NyxRetriever:
        config = dict(config)
        if config.get("corpus") is not None:
            config["corpus"] = Corpus.resolve(config["corpus"], builder)
        if isinstance(config.get("retriever"), str):
            config["retriever"] = builder.get(config["retriever"])
        return super().from_config(config, builder)  # type: ignore[return-value]

    def load(self) -> Any:
        """The underlying Nyx Retriever, opened or built on first use."""
        if self.retriever is None:
            from nyx.retriever import Retriever

            if self.index is not None:
                self.retriever = Retriever.load(self.index)
            else:
                assert self.corpus is not None
                logger.info("indexing %d passages with %s", len(self.corpus), self.encoder)
                self.retriever = Retriever(encoder=self.encoder)
                self.retriever.add([
                    Item([rec["text"] or " "], {"title": rec["title"]} if rec["title"] else {},
                         id=doc_id) for doc_id, rec in self.corpus.docs.items()])
        elif self._follow is not None:
            self._follow_current()
        return self.retriever

    def _follow_current(self) -> None:
        from nyx.indexes import EncoderMismatchError, IndexDirectory

        try:
            current = IndexDirectory(self._follow).current_name()
        except (OSError, ValueError):  # a CURRENT being replaced or damaged: keep serving
            return
        if current is None or current in (self.generation, self._failed):
            return
        with self._swap:
            if current == self.generation:
                return
            from nyx.retriever import Retriever

            old = self.retriever
            try:
                try:
                    new = Retriever.load(self._follow, encoder=old.encoder)
                except EncoderMismatchError:  # rebuilt with another encoder: load that one
                    new = Retriever.load(self._follow)
            except Exception as error:  # a broken new generation: say so, keep the old one
                logger.warning("cannot open %s of %s (%s); still serving %s", current,
                               self._follow, error, self.generation)
                self._failed = current
                return
            logger.info("%s: now serving %s (was %s)", self._follow, current, self.generation)
            if self._retired is not None:  # retired one swap ago: nothing still uses it
                self._retired.close()
            self.retriever, self._retired, self._fingerprint = new, old, None

    def data_identity(self) -> dict[str, Any]:
        """The passages: the corpus's fingerprint, else the indexed ids (the index folder's
        path says nothing of what is in it)."""
        if self._fingerprint is None:
            if self.corpus is not None:
                self._fingerprint = self.corpus.fingerprint
            else:
                ids = sorted(self.load().store.ids())
                self._fingerprint = hashlib.sha256("\0".join(ids).encode()).hexdigest()[:16]
        return {"passages": self._fingerprint}

    def _retrieve(self, query: str, k: int, filter: dict[str, Any] | None
                  ) -> list[SearchResult]:
        return self._retrieve_batch([query], k, filter, SearchOptions())[0]

    def _retrieve_batch(self, queries: list[Query], k: int, filter: dict[str, Any] | None,
                        options: SearchOptions) -> list[list[SearchResult]]:
        """One ``Retriever.search`` per search mode among the queries (one for a batch of text
        queries): ``auto`` is the module's ``mode`` for queries with text; image queries
        without text keep ``auto`` (dense)."""
        items = [q if isinstance(q, Item) else Item([q]) for q in queries]
        modes = [self.mode if options.mode == "auto" and item.text else options.mode
                 for item in items]
        found: list[list[SearchResult]] = [[] for _ in items]
        for mode in dict.fromkeys(modes):
            batch = [n for n, m in enumerate(modes) if m == mode]
            hits = self.load().search([items[n] for n in batch], k=k, filter=filter,
                                      options=replace(options, mode=mode))
            for n, found_hits in zip(batch, hits):
                found[n] = found_hits
        return found

    def fetch(self, doc_id: str) -> SearchResult | None:
        item = self.load().get([doc_id])[0]
        if item is None:
            return None
        return SearchResult(doc_id, 0.0, text=item.text, images=image_refs(item),
                            metadata=dict(item.metadata))

    def media_file(self, ref: str) -> Path | None:
        return self.load().media_file(ref)
