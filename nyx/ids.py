"""Document ids and the ids of their vectors: built and read here, nowhere else.

A document embedded as one piece has one vector whose id is the document id. A long text
embedded in ``n`` chunks has ``n`` vectors, ``<doc id>\\x1f0`` ... ``<doc id>\\x1f<n-1>``
(U+001F, the unit separator, which no file name or sensible id contains). Document ids that
contain the separator are refused: they would be read back as a chunk of another document.
"""

from __future__ import annotations

from collections.abc import Iterable

from nyx.content import Item

__all__ = ["SEPARATOR", "check_document_ids", "default_ids", "document_id", "vector_ids"]

SEPARATOR = "\x1f"


def vector_ids(doc_id: str, pieces: int) -> list[str]:
    """The ids of a document's ``pieces`` vectors."""
    if pieces == 1:
        return [doc_id]
    return [f"{doc_id}{SEPARATOR}{n}" for n in range(pieces)]


def document_id(vector_id: str) -> str:
    """The document a vector belongs to."""
    return vector_id.split(SEPARATOR, 1)[0]


def check_document_ids(ids: Iterable[str]) -> None:
    """Refuse ids that contain the chunk separator, naming them."""
    bad = [i for i in ids if SEPARATOR in i]
    if bad:
        raise ValueError(f"document ids may not contain U+001F (unit separator): {bad[:5]!r}; "
                         "Nyx uses it in the ids of chunk vectors, so rename these documents")


def default_ids(items: list[Item]) -> list[str]:
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
