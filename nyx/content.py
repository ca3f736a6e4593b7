"""One type for a query or a document: text, images, or both interleaved in order."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from nyx.images import ImageLoadError, ImageSource, describe_source, load_image


@dataclass(frozen=True)
class ImagePart:
    """An image inside an item: a file path, encoded bytes, or a PIL image (loaded lazily).

    ``origin`` names the file encoded bytes were read from (a corpus image read once, where it
    was checked); it is a label for data pipelines that keep references, never read again by
    the index.
    """

    source: ImageSource
    alt: str = ""
    origin: str | None = field(default=None, compare=False, repr=False)
    #: the digest once known, for sources that never change: encoded bytes, and a stored copy
    #: (see :meth:`stored_as`); a file path or a PIL image is hashed each time it is asked
    _digest: str | None = field(default=None, init=False, compare=False, repr=False)

    def load(self, max_side: int | None = 1024) -> Image.Image:
        return load_image(self.source, max_side=max_side)

    @property
    def path(self) -> Path | None:
        return Path(self.source) if isinstance(self.source, (str, Path)) else None

    def digest(self) -> str:
        """A content hash: file bytes for paths and bytes, pixels for PIL images."""
        src = self.source
        if self._digest is not None:
            return self._digest
        if isinstance(src, bytes):
            digest = hashlib.sha256(src).hexdigest()
            object.__setattr__(self, "_digest", digest)  # frozen
            return digest
        h = hashlib.sha256()
        if isinstance(src, (str, Path)):
            path = Path(src)
            if not path.is_file():
                raise ImageLoadError(f"image file not found: {path}")
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        elif isinstance(src, Image.Image):
            h.update(f"{src.mode}{src.size}".encode())
            h.update(src.tobytes())
        else:
            raise TypeError(f"unsupported image source {describe_source(src)}")
        return h.hexdigest()

    def stored_as(self, path: str) -> ImagePart:
        """This image as its copy at ``path``, a file named by its content that never changes:
        it keeps this part's digest instead of reading the copy to hash it again."""
        stored = ImagePart(path, alt=self.alt)
        object.__setattr__(stored, "_digest", self.digest())
        return stored

    def __repr__(self) -> str:
        return f"ImagePart({describe_source(self.source)})"


Part = str | ImagePart


@dataclass
class Item:
    """A query or a document: an ordered sequence of text and image parts, plus metadata.

    >>> Item.of("a cup of espresso")
    >>> Item.of(Path("coffee.png"))
    >>> Item.of(["The rocket", Path("rocket.png"), "lifts off."])
    """

    parts: list[Part] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def __post_init__(self) -> None:
        self.parts = [_coerce_part(p) for p in self.parts]
        if not self.parts:
            raise ValueError("an item needs at least one text or image part")
        if all(isinstance(p, str) and (not p or p.isspace()) for p in self.parts):
            raise ValueError("empty text: an item needs non-blank text or an image")

    @classmethod
    def of(cls, value: ItemLike, *, metadata: dict[str, Any] | None = None,
           id: str | None = None) -> Item:
        """Coerce a string (text), a Path / bytes / PIL image (image) or a list (interleaved)."""
        if isinstance(value, Item):
            return value
        if isinstance(value, (list, tuple)):
            return cls(list(value), dict(metadata or {}), id)
        return cls([value], dict(metadata or {}), id)

    @classmethod
    def from_text_and_images(cls, text: str | None = None, images: Iterable[ImageSource] = (),
                             **kwargs: Any) -> Item:
        parts: list[Part] = [text] if text else []
        parts.extend(ImagePart(src) for src in images)
        return cls(parts, **kwargs)

    @property
    def text(self) -> str:
        """All text parts joined by blank lines (image alt text included)."""
        chunks = []
        for p in self.parts:
            if isinstance(p, str):
                chunks.append(p.strip())
            elif p.alt:
                chunks.append(p.alt.strip())
        return "\n\n".join(c for c in chunks if c)

    @property
    def images(self) -> list[ImagePart]:
        return [p for p in self.parts if isinstance(p, ImagePart)]

    @property
    def modality(self) -> str:
        has_text = any(isinstance(p, str) for p in self.parts)
        has_image = any(isinstance(p, ImagePart) for p in self.parts)
        return "interleaved" if has_text and has_image else ("image" if has_image else "text")

    def content_hash(self) -> str:
        """A stable hash of the content (text and image bytes, in order), ignoring metadata."""
        h = hashlib.sha256()
        for p in self.parts:
            if isinstance(p, str):
                h.update(b"T" + p.encode("utf-8") + b"\0")
            else:
                h.update(b"I" + p.digest().encode() + p.alt.encode("utf-8") + b"\0")
        return h.hexdigest()

    def stable_id(self) -> str:
        """The item's id, or a content-derived one."""
        return self.id if self.id is not None else self.content_hash()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: images as file paths, or encoded bytes as base64 (``image_b64``).
        PIL images are not serialisable."""
        parts: list[dict[str, str]] = []
        for p in self.parts:
            if isinstance(p, str):
                parts.append({"text": p})
            else:
                if isinstance(p.source, bytes):
                    entry = {"image_b64": base64.b64encode(p.source).decode("ascii")}
                elif p.path is None:
                    raise ValueError(
                        "only file-path images and encoded bytes can be serialised; save the "
                        "image first"
                    )
                else:
                    entry = {"image": str(p.path)}
                if p.alt:
                    entry["alt"] = p.alt
                parts.append(entry)
        return {"id": self.id, "parts": parts, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        parts: list[Part] = []
        for entry in data["parts"]:
            if "text" in entry:
                parts.append(entry["text"])
            elif "image" in entry:
                parts.append(ImagePart(entry["image"], alt=entry.get("alt", "")))
            elif "image_b64" in entry:
                parts.append(ImagePart(base64.b64decode(entry["image_b64"]),
                                       alt=entry.get("alt", "")))
            else:
                raise ValueError(
                    f"unknown part {json.dumps(entry)[:80]}: expected 'text' or 'image'"
                )
        return cls(parts, dict(data.get("metadata") or {}), data.get("id"))


#: What users may pass where an item is expected.
ItemLike = Item | str | Path | bytes | Image.Image | ImagePart | Sequence[Any]


def _coerce_part(part: Any) -> Part:
    if isinstance(part, str):
        return part
    if isinstance(part, ImagePart):
        return part
    if isinstance(part, (Path, bytes, Image.Image)):
        return ImagePart(part)
    raise TypeError(
        f"unsupported item part of type {type(part).__name__}: use str for text and "
        "pathlib.Path, bytes or PIL.Image.Image for images"
    )


def as_items(values: ItemLike | Sequence[ItemLike]) -> list[Item]:
    """Coerce one item-like value or a list of them. A list of strings is a list of text items."""
    if isinstance(values, (Item, str, Path, bytes, Image.Image, ImagePart)):
        return [Item.of(values)]
    return [Item.of(v) for v in values]
