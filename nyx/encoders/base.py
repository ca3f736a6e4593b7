"""The encoder interface every backend implements."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from nyx.content import Item, ItemLike, as_items

logger = logging.getLogger(__name__)


def l2_normalize(vectors: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation in float32; zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, eps)


def resolve_device(device: str | None) -> str:
    """``None`` or ``"auto"`` picks CUDA when available, else CPU."""
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} requested but CUDA is not available; use 'cpu'")
    elif device != "cpu" and device != "mps":
        raise ValueError(f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    return device


class Encoder(ABC):
    """Embeds queries and documents (text, images or interleaved) into one vector space.

    Subclasses implement :meth:`_encode_batch`; this class handles coercion, batching,
    progress bars and normalisation. Outputs are L2-normalised ``float32`` arrays ``(n, dim)``.
    """

    #: Registry name, e.g. ``"nyx-lite"``.
    name: str = "encoder"
    #: Version string recorded in index manifests; changes whenever vectors would change.
    version: str = "0"
    #: Output dimension.
    dim: int = 0
    #: Device the model runs on.
    device: str = "cpu"
    #: Batch items of similar size together (images apart from text, then by text length), so
    #: that a batch pads to its own longest item rather than to a corpus-wide one. Outputs keep
    #: the input order.
    sort_by_length: bool = True
    #: What rebuilds this encoder: the name and options :func:`~nyx.load_encoder` was given
    #: (set by it; ``None`` for an encoder constructed directly). ``Retriever.save`` records
    #: both and ``Retriever.load`` passes them back.
    spec: str | None = None
    spec_options: Mapping[str, Any] = MappingProxyType({})

    @abstractmethod
    def _encode_batch(self, items: list[Item], *, is_query: bool) -> np.ndarray:
        """Embed one batch; may return unnormalised float vectors of shape ``(len(items), dim)``."""

    def encode_queries(self, items: ItemLike | Sequence[ItemLike], *, batch_size: int = 32,
                       show_progress: bool = False) -> np.ndarray:
        """Embed queries (an instruction may be prepended by models that use one)."""
        return self._encode(as_items(items), True, batch_size, show_progress)

    def encode_documents(self, items: ItemLike | Sequence[ItemLike], *, batch_size: int = 32,
                         show_progress: bool = False) -> np.ndarray:
        """Embed documents."""
        return self._encode(as_items(items), False, batch_size, show_progress)

    def document_text(self, item: Item) -> str:
        """The text a lexical index should hold for ``item`` (encoders that read text from
        images, like nyx-lite's OCR, add it)."""
        return item.text

    def _encode(self, items: list[Item], is_query: bool, batch_size: int,
                show_progress: bool) -> np.ndarray:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        order = (sorted(range(len(items)), key=lambda i: _size_key(items[i]))
                 if self.sort_by_length and len(items) > batch_size else list(range(len(items))))
        kind = "queries" if is_query else "documents"
        with tqdm(total=len(items), desc=f"{self.name}: {kind}", unit="item",
                  disable=not show_progress) as bar:
            for start in range(0, len(items), batch_size):
                rows = order[start:start + batch_size]
                batch = [items[i] for i in rows]
                vectors = np.asarray(self._encode_batch(batch, is_query=is_query))
                if vectors.shape != (len(batch), self.dim):
                    raise RuntimeError(
                        f"{self.name} returned shape {vectors.shape} for a batch of {len(batch)}, "
                        f"expected ({len(batch)}, {self.dim})"
                    )
                out[rows] = l2_normalize(vectors)
                bar.update(len(batch))
        return out

    def info(self) -> dict[str, Any]:
        """What an index manifest records about this encoder."""
        return {"name": self.name, "version": self.version, "dim": self.dim}

    def rebuild_spec(self) -> tuple[str, dict[str, Any]]:
        """``(spec, options)`` for :func:`~nyx.load_encoder`: its own spec, else its name."""
        return (self.spec or self.name), dict(self.spec_options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, device={self.device!r})"


def _size_key(item: Item) -> tuple[int, int]:
    """Images first, then longer texts: similar items share a batch (as sentence-transformers
    sorts by length), and a batch's padding is set by its own longest text."""
    return (-len(item.images), -len(item.text))
