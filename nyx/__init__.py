"""Nyx: mixed-modal retrieval. Text, images and interleaved documents in one vector space.

The public names below load on first use (PEP 562), so that ``import nyx.indexes`` or
``import nyx.ensemble`` does not import the retriever, and ``import nyx`` stays cheap. They
include what :class:`Retriever` takes (``HybridConfig``, ``BM25Config``, ``CrossEncoder``, a
``VectorIndex``) and what its searches take (``Filter``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nyx.indexes.lazy import lazy_exports

#: The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"

_HOMES = {
    "BM25Config": "nyx.indexes",
    "CrossEncoder": "nyx.rerank",
    "DEFAULT_ENCODER": "nyx.encoders",
    "Encoder": "nyx.encoders",
    "Filter": "nyx.indexes",
    "HybridConfig": "nyx.hybrid",
    "ImageLoadError": "nyx.images",
    "ImagePart": "nyx.content",
    "Item": "nyx.content",
    "Retriever": "nyx.retriever",
    "SearchOptions": "nyx.search_options",
    "SearchResult": "nyx.results",
    "VectorIndex": "nyx.indexes",
    "as_items": "nyx.content",
    "load_encoder": "nyx.encoders",
    "load_image": "nyx.images",
}

__all__ = [
    "BM25Config",
    "CrossEncoder",
    "DEFAULT_ENCODER",
    "Encoder",
    "Filter",
    "HybridConfig",
    "ImageLoadError",
    "ImagePart",
    "Item",
    "Retriever",
    "SearchOptions",
    "SearchResult",
    "VectorIndex",
    "__version__",
    "as_items",
    "load_encoder",
    "load_image",
]

if TYPE_CHECKING:
    from nyx.content import ImagePart, Item, as_items
    from nyx.encoders import DEFAULT_ENCODER, Encoder, load_encoder
    from nyx.hybrid import HybridConfig
    from nyx.images import ImageLoadError, load_image
    from nyx.indexes import BM25Config, Filter, VectorIndex
    from nyx.rerank import CrossEncoder
    from nyx.results import SearchResult
    from nyx.retriever import Retriever
    from nyx.search_options import SearchOptions


__getattr__, __dir__ = lazy_exports("nyx", _HOMES, globals())
