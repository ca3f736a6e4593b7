"""File plumbing shared by the loaders: the cache folder, checksums, JSONL/TSV readers."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nyx.benchmarks.datasets.base import DatasetFormatError

__all__ = [
    "atomic_write_bytes",
    "dataset_cache_dir",
    "default_cache_root",
    "iter_jsonl",
    "iter_tsv",
    "require_file",
    "require_key",
    "resolve_path",
    "sha256_file",
]

CACHE_ENV = "NYX_CACHE"


def default_cache_root() -> Path:
    """``$NYX_CACHE/datasets`` if ``NYX_CACHE`` is set, else ``~/.cache/nyx/datasets``."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "datasets"
    return Path.home() / ".cache" / "nyx" / "datasets"


def dataset_cache_dir(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder one data set caches into: ``<cache root>/<name>``, created on demand."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    folder = root / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(
            f"cannot create the data set cache folder {folder}: {error}; "
            f"pass cache_dir=... (--cache-dir) or set ${CACHE_ENV} to a writable folder"
        ) from error
    return folder


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def require_file(path: Path, what: str, hint: str = "") -> Path:
    if not path.is_file():
        message = f"{what} not found: {path}"
        raise FileNotFoundError(f"{message}; {hint}" if hint else message)
    return path


def resolve_path(value: str | None, base: Path | None) -> str | None:
    """An image path from a data file: absolute as given, else relative to ``base``."""
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path)


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSON Lines file.

    Raises :class:`DatasetFormatError` naming the file and line for invalid JSON or a line that
    is not a JSON object.
    """
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetFormatError(
                    f"{path}:{line_no}: invalid JSON ({error.msg} at column {error.colno}); "
                    "each line must hold one JSON object"
                ) from error
            if not isinstance(record, dict):
                raise DatasetFormatError(
                    f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}"
                )
            yield line_no, record


def require_key(record: dict[str, Any], keys: tuple[str, ...], path: Path, line_no: int) -> Any:
    """The value of the first of ``keys`` present in ``record``, else a format error."""
    for key in keys:
        if key in record and record[key] is not None:
            return record[key]
    names = " or ".join(repr(k) for k in keys)
    raise DatasetFormatError(
        f"{path}:{line_no}: missing field {names} (fields present: {sorted(record)})"
    )


def iter_tsv(path: Path, header: bool = True) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, fields)`` for each non-blank row of a tab-separated file."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in reader:
            if header and reader.line_num == 1:
                continue
            if not row or not "".join(row).strip():
                continue
            yield reader.line_num, row
