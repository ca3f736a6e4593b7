"""The images an index keeps and serves, stored inside the index folder.

Every image added to a retriever is copied in, named by its content (``<sha256>.png``): an
index never refers to files outside its folder, and the server serves media from here only.
Stored documents name their images ``nyx-media:<file name>``, so an index folder can be moved.
A loaded index reads the images of its generation (read-only) and writes new ones to a private
folder; saving copies (hard-links) both into the new generation.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from nyx.content import ImagePart, Item
from nyx.images import is_image_path
from nyx.indexes import Document

__all__ = ["MEDIA_PREFIX", "MediaStore"]

_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp",
             "TIFF": ".tif"}


def _suffix(data: bytes) -> str:
    """The file suffix of encoded image bytes (only the allowed decoders are asked)."""
    import io

    from nyx.images import open_image

    try:
        with open_image(io.BytesIO(data)) as image:
            return _SUFFIXES.get(str(image.format), ".img")
    except Exception:  # noqa: BLE001 - unreadable bytes are stored under a neutral suffix
        return ".img"

MEDIA_PREFIX = "nyx-media:"


class MediaStore:
    """New images go to ``writable``; a loaded generation's images are read from
    ``read_only``."""

    def __init__(self, writable: Path, read_only: Path | None = None) -> None:
        self.writable = writable
        self.read_only = read_only

    def keep(self, item: Item) -> Item:
        """``item`` with every image stored here (content-addressed)."""
        if not item.images:
            return item
        parts: list[Any] = []
        for part in item.parts:
            if isinstance(part, ImagePart) and isinstance(part.source, bytes):
                # encoded bytes (a corpus image read once, where it was checked): kept as is,
                # named by their digest, which the copy keeps (see ImagePart.stored_as)
                part = part.stored_as(str(self._store(part.source, _suffix(part.source),
                                                      part.digest())))
            elif isinstance(part, ImagePart) and part.path is None:
                target = self.writable / f"{part.digest()[:24]}.png"
                if not target.exists():
                    self.writable.mkdir(parents=True, exist_ok=True)
                    part.load(max_side=None).save(target)
                part = ImagePart(str(target), alt=part.alt)
            elif isinstance(part, ImagePart) and self.file(str(part.path)) is None:
                part = ImagePart(str(self._copy(Path(str(part.path)))), alt=part.alt)
            parts.append(part)
        return Item(parts, item.metadata, item.id)

    def _copy(self, path: Path) -> Path:
        from nyx.paths import open_regular

        # The caller named this file (its symlinks are followed); what is read is one regular
        # file, read once: hashed and copied.
        with open_regular(path.resolve()) as f:
            data = f.read()
        return self._store(data, path.suffix.lower() if is_image_path(path) else ".img")

    def _store(self, data: bytes, suffix: str, digest: str | None = None) -> Path:
        """Write ``data`` under its SHA-256 (``digest``, if the caller has it)."""
        digest = digest or hashlib.sha256(data).hexdigest()
        target = self.writable / f"{digest[:32]}{suffix}"
        if not target.exists():
            self.writable.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return target

    def file(self, path: str) -> Path | None:
        """``path`` if it is a stored media file (a regular file, not a link, directly inside
        one of the media folders), else ``None``. The server serves only these."""
        candidate = Path(path)
        for folder in self._folders():
            if candidate.parent != folder:
                continue
            try:
                mode = candidate.lstat().st_mode
            except OSError:
                return None
            return candidate if stat.S_ISREG(mode) else None
        return None

    def to_payload(self, item: Item) -> dict[str, Any]:
        """The stored form of ``item``: its images named ``nyx-media:<file>``."""
        data = item.to_dict()
        folders = self._folders()
        for entry in data["parts"]:
            image = Path(entry.get("image", ""))
            if "image" in entry and image.parent in folders:
                entry["image"] = MEDIA_PREFIX + image.name
        return data

    def to_item(self, doc: Document) -> Item:
        """A stored document as an :class:`~nyx.Item` whose images are paths again."""
        data = {k: doc.payload[k] for k in ("id", "parts", "metadata") if k in doc.payload}
        parts = []
        for entry in data.get("parts", []):
            image = entry.get("image", "")
            if image.startswith(MEDIA_PREFIX):
                entry = {**entry, "image": self._path(image[len(MEDIA_PREFIX):])}
            parts.append(entry)
        return Item.from_dict({**data, "parts": parts, "id": doc.id, "metadata": doc.metadata})

    def write_into(self, folder: Path) -> None:
        """Put every image into ``folder`` (a generation's ``media``); files are hard-linked
        where possible, as a stored image never changes."""
        for media in self._folders():
            if media.is_dir():
                shutil.copytree(media, folder, dirs_exist_ok=True, copy_function=_link_or_copy)

    def _path(self, name: str) -> str:
        for folder in self._folders():
            if (folder / name).exists():
                return str(folder / name)
        return str(self.writable / name)

    def _folders(self) -> tuple[Path, ...]:
        return tuple(f for f in (self.writable, self.read_only) if f is not None)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
