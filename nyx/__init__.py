"""Nyx: mixed-modal retrieval. Text, images and interleaved documents in one vector space."""

from nyx.content import ImagePart, Item, as_items
from nyx.encoders import DEFAULT_ENCODER, Encoder, load_encoder
from nyx.images import ImageLoadError, load_image
from nyx.retriever import Retriever, SearchResult

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ENCODER",
    "Encoder",
    "ImageLoadError",
    "ImagePart",
    "Item",
    "Retriever",
    "SearchResult",
    "__version__",
    "as_items",
    "load_encoder",
    "load_image",
]
