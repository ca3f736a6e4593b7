"""The manifest of an index folder: what built it, from what, and how big it is.

It is plain JSON so that people can read it and tools can check, before loading any
vectors, that a query encoder matches the one that built the index.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json

logger = logging.getLogger(__name__)

__all__ = [
    "MANIFEST_FILENAME",
    "BackendInfo",
    "EncoderInfo",
    "EncoderMismatchError",
    "Manifest",
]

MANIFEST_FILENAME = "manifest.json"
FORMAT_VERSION = 1


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class EncoderMismatchError(ValueError):
    """The encoder asked for is not the one that built the index."""


@dataclass
class EncoderInfo:
    """The encoder that produced the stored vectors."""

    name: str
    version: str = ""
    dim: int = 0


@dataclass
class BackendInfo:
    """The vector index backend and its parameters (as given to `create_index`)."""

    name: str = "faiss"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manifest:
    """Contents of `manifest.json`. Timestamps are UTC ISO-8601 strings."""

    encoder: EncoderInfo
    backend: BackendInfo = field(default_factory=BackendInfo)
    corpus_root: str | None = None
    sources: dict[str, str] = field(default_factory=dict)  # relative path -> content hash
    #: which files of the corpus are read (``nyx.corpus.ReadOptions``: include_ext, exclude)
    reading: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # documents, vectors, ...
    #: the lexical analyzer (see ``nyx.indexes.tokenize.analyzer_id``); None: no lexical index,
    #: or written before analyzers were recorded
    analyzer: str | None = None
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    format_version: int = FORMAT_VERSION
    #: the generation was committed with ``checksums.json`` (every commit since it was added);
    #: False for manifests written before, which verify cannot check file by file
    checksums: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Build a manifest from its JSON form; unknown keys are kept out, with a warning."""
        version = int(data.get("format_version", 0))
        if version > FORMAT_VERSION:
            raise ValueError(
                f"manifest format {version} is newer than this Nyx understands "
                f"({FORMAT_VERSION}); upgrade nyx-retrieval"
            )
        if "encoder" not in data:
            raise ValueError("manifest has no 'encoder' entry; the index folder is incomplete")
        known = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            logger.warning("ignoring unknown manifest keys %s", extra)
        values = {key: value for key, value in data.items() if key in known}
        values["encoder"] = EncoderInfo(**data["encoder"])
        values["backend"] = BackendInfo(**data.get("backend", {}))
        return cls(**values)

    @staticmethod
    def _file(path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        return path / MANIFEST_FILENAME if path.is_dir() else path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        """Read a manifest from a file, or from `manifest.json` in a folder."""
        file = cls._file(path)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no manifest at {file}; is {path} an index folder? Build one with nyx-index"
            ) from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{file} is not valid JSON ({exc}); rebuild the index") from exc
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str], *, touch: bool = True) -> Path:
        """Write atomically to a file, or to `manifest.json` in an existing folder.
        With `touch`, `updated` is set to now first. Returns the file written."""
        if touch:
            self.updated = _now()
        file = self._file(path)
        atomic_write_json(file, self.to_dict())
        return file

    def check_encoder(self, name: str, version: str | None = None, dim: int | None = None) -> None:
        """Raise `EncoderMismatchError` unless the given encoder built this index.

        `version` and `dim` are only compared when given (and, for version, recorded).
        """
        built = self.encoder
        problems = []
        if name != built.name:
            problems.append(f"name {name!r} != {built.name!r}")
        if version and built.version and version != built.version:
            problems.append(f"version {version!r} != {built.version!r}")
        if dim is not None and built.dim and dim != built.dim:
            problems.append(f"dim {dim} != {built.dim}")
        if problems:
            label = built.name + (f" (version {built.version})" if built.version else "")
            raise EncoderMismatchError(
                f"this index was built with encoder {label}, dim {built.dim}, but the query "
                f"encoder differs: {'; '.join(problems)}. Either search with {built.name}, "
                f"the encoder that built it (Retriever.load(path) without encoder=; "
                f"nyx-index without --model), or build a new index folder with the new encoder"
            )
