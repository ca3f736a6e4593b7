"""The search hit: one per document or chunk, the one shape a hit has everywhere.

What a search does to a query's hits (grouping, attaching documents, reranking) is in
:mod:`nyx.hits`. This module imports neither NumPy nor an image library, so a client that only
reads hits from a server (``nyx-index search`` with ``nyx-index serve`` running) starts fast."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nyx.content import Item

__all__ = ["SearchResult", "image_refs"]

@dataclass
class SearchResult:
    """One hit, the one shape a hit has from :meth:`nyx.Retriever.search` through the ensemble's
    retriever modules, the agent tools, the HTTP/MCP API and the command line.

    ``text``, ``images`` and ``metadata`` are the document's record; ``document`` is the
    document itself where the hit came from an index in this process (``None`` in a hit read
    back from JSON or a cache). :meth:`to_dict` is the one serialisation: the ensemble's disk
    cache stores it and the API's rows extend it with what only they show (a snippet, a
    confidence); :meth:`from_dict` reads either back.
    """

    id: str
    score: float
    _: KW_ONLY
    #: the document's searchable text: its own text plus text read from its images (OCR)
    text: str = ""
    #: the document's images: a file path, or ``sha256:<digest>`` for an image without one
    images: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: an absolute estimate that the hit answers a text query, in [0, 1], comparable across
    #: queries (see :mod:`nyx.relevance`); ``None`` where no calibration applies (image
    #: queries, encoders other than nyx-lite in dense or hybrid mode)
    relevance: float | None = None
    dense_score: float | None = None
    lexical_score: float | None = None
    #: with a reranker: the first-stage (fused) score; ``score`` is then the blend of it and
    #: the cross-encoder's (:func:`nyx.hits.blend_scores`)
    first_stage_score: float | None = None
    #: with a reranker: the cross-encoder's logit (predicted for a hit without text)
    rerank_score: float | None = None
    #: the file the hit came from (``nyx-index build`` indexes), else ``None``
    source: str | None = None
    #: which chunk of ``source`` matched best (``id`` is that chunk's id), else ``None``
    chunk: int | None = None
    #: how many chunks of ``source`` were among the candidates (grouped into this hit)
    matched_chunks: int = 1
    #: ids (or files) with exactly the same content, collapsed into this hit
    duplicates: list[str] = field(default_factory=list)
    #: the document, in this process only (never serialised)
    document: Item | None = field(default=None, repr=False, compare=False)

    @property
    def threshold_score(self) -> float:
        """What ``min_score`` compares: :attr:`relevance` where known, else :attr:`score`."""
        return self.relevance if self.relevance is not None else self.score

    def to_dict(self) -> dict[str, Any]:
        """Every field but :attr:`document`, as JSON-ready values."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)
                if f.name != "document"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchResult:
        """A hit from :meth:`to_dict`'s output. Keys that are not fields are ignored: an API
        row is this dict plus what the edge adds (``snippet``, ``confidence``...)."""
        names = {f.name for f in fields(cls)} - {"document"}
        return cls(**{k: copy.deepcopy(v) for k, v in data.items() if k in names})


def image_refs(item: Item) -> list[str]:
    """An item's images as references: the file path, else ``sha256:<digest>``."""
    return [str(p.path) if p.path is not None else f"sha256:{p.digest()}" for p in item.images]
