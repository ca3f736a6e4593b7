"""A document ready to index: its item, content hash and embedding pieces, each computed once.

The index builder prepares every document once and hands it forward: the embedding cache is
keyed by its hash, the encoder embeds its pieces, and :meth:`nyx.retriever.Retriever.add`
stores it with their vectors, without hashing, chunking or reading its images again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nyx.content import Item

__all__ = ["PreparedItem", "all_prepared"]


@dataclass
class PreparedItem:
    """Made by :meth:`nyx.retriever.Retriever.prepare`."""

    item: Item
    #: :meth:`Item.content_hash` (its images' bytes included)
    content_hash: str
    #: what is embedded for the item (:func:`nyx.chunking.embedding_pieces`)
    pieces: list[Item]
    #: one row per piece, once embedded or read from the embedding cache
    vectors: np.ndarray | None = None


def all_prepared(documents: object) -> list[PreparedItem] | None:
    """``documents`` as a list if it is a non-empty list or tuple of prepared items, ``None``
    if it holds none (items or item-like values); a mix is refused."""
    if not isinstance(documents, (list, tuple)):
        return None
    prepared = [d for d in documents if isinstance(d, PreparedItem)]
    if prepared and len(prepared) != len(documents):
        raise TypeError("pass prepared items (Retriever.prepare) or items, not both in one call")
    return prepared or None
