"""Every real data file the benchmarks read, declared once, and the one way to find it.

Each :class:`DataFile` names its canonical URL(s), sha256, byte size, licence and parser. A file is
looked for, in order:

1. in the data folder: ``data_dir=`` (``nyx-bench --data-dir DIR``) or ``$NYX_DATA_DIR``, laid out
   like ``../shared/data`` (``squad/dev-v1.1.json``, ``squad_shifts/amazon_reviews_v1.0.json``...);
2. in the user cache, ``<cache>/<same relative path>`` (``$NYX_CACHE/datasets`` or
   ``~/.cache/nyx/datasets``);
3. at its canonical URL, streamed into the cache with the sha256 checked while it arrives.

A file whose sha256 differs from the pinned one is refused wherever it was found. When nothing
works, :class:`~nyx.benchmarks.datasets.base.DatasetUnavailableError` says in one line which file
to put where.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from nyx.benchmarks.datasets.base import DatasetFormatError, DatasetUnavailableError
from nyx.benchmarks.datasets.files import default_cache_root, sha256_file

logger = logging.getLogger(__name__)

__all__ = [
    "DATA_DIR_ENV",
    "DATA_FILES",
    "UNAVAILABLE",
    "DataFile",
    "data_folder",
    "download_verified",
    "locate",
]

DATA_DIR_ENV = "NYX_DATA_DIR"
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DataFile:
    """One real data file: where it lives relative to a data folder and where it comes from."""

    key: str
    path: str  # relative to a data folder, e.g. "squad/dev-v1.1.json"
    urls: tuple[str, ...]
    sha256: str
    size: int
    licence: str
    parser: str  # the format its loader parses
    description: str

    def hint(self) -> str:
        return (f"put {self.path} ({self.description}, {self.size:,} bytes, sha256 "
                f"{self.sha256[:12]}…, from {self.urls[0]}) in a folder and pass --data-dir DIR "
                f"or set {DATA_DIR_ENV}=DIR")


_SHIFTS = "https://raw.githubusercontent.com/modestyachts/squadshifts-website/master/datasets/"

#: data set name -> its file. The layout is that of ``../shared/data`` (see its README).
DATA_FILES: dict[str, DataFile] = {
    "squad-dev": DataFile(
        key="squad-dev",
        path="squad/dev-v1.1.json",
        urls=("https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json",),
        sha256="95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9",
        size=4_854_279,
        licence="CC BY-SA 4.0",
        parser="squad-v1.1",
        description="SQuAD v1.1 dev",
    ),
    "squad-shifts-amazon": DataFile(
        key="squad-shifts-amazon",
        path="squad_shifts/amazon_reviews_v1.0.json",
        urls=(_SHIFTS + "amazon_reviews_v1.0.json",),
        sha256="9db7bdee84a91f0fb80b9e74f365042fbbb217cb8e0a7e73bb071245472589b6",
        size=4_177_842,
        licence="CC BY 4.0",
        parser="squad-v1.1",
        description="SQuADShifts Amazon reviews",
    ),
    "squad-shifts-new-wiki": DataFile(
        key="squad-shifts-new-wiki",
        path="squad_shifts/new_wiki_v1.0.json",
        urls=(_SHIFTS + "new_wiki_v1.0.json",),
        sha256="1d50a0ca4cdab88d038b52ea8a2d0510af6038d7f41a0a256b9659237769d0ee",
        size=3_607_393,
        licence="CC BY-SA 4.0",
        parser="squad-v1.1",
        description="SQuADShifts New Wikipedia",
    ),
}

#: data sets that once loaded here and cannot be had any more: name -> why
UNAVAILABLE: dict[str, str] = {
    "coqa": "CoQA is no longer available: it came from the bigbench 1.0.0 sdist, which the "
            "package index no longer serves, and no other copy can be reached here",
}


def data_folder(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The data folder: ``explicit`` if given, else ``$NYX_DATA_DIR``, else ``None``."""
    value = explicit if explicit is not None else os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def _check(path: Path, spec: DataFile) -> Path:
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise DatasetFormatError(
            f"{path} has sha256 {actual}, expected {spec.sha256} ({spec.description}); it is "
            f"not the pinned file: replace it with the original from {spec.urls[0]}"
        )
    return path


def download_verified(url: str, target: Path, sha256: str, size: int | None = None) -> Path:
    """Stream ``url`` to ``target`` with a progress bar; keep it only if the sha256 matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(url, timeout=TIMEOUT_S) as response,
            open(tmp, "wb") as out,
            tqdm(total=size or int(response.headers.get("Content-Length") or 0) or None,
                 unit="B", unit_scale=True, desc=f"downloading {target.name}") as bar,
        ):
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as error:
        tmp.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or error
        raise DatasetUnavailableError(f"download of {url} failed: {reason}") from error
    if digest.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise DatasetFormatError(
            f"{url} served a file with sha256 {digest.hexdigest()}, expected {sha256}; "
            "nothing was kept"
        )
    os.replace(tmp, target)
    return target


def locate(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """The verified local path of data set ``name``'s file (data folder, cache, then download)."""
    if name in UNAVAILABLE:
        raise DatasetUnavailableError(f"{name}: {UNAVAILABLE[name]}")
    if name not in DATA_FILES:
        raise KeyError(f"no data file is declared for {name!r}; declared: {sorted(DATA_FILES)}")
    spec = DATA_FILES[name]
    folder = data_folder(data_dir)
    if folder is not None and (folder / spec.path).is_file():
        return _check(folder / spec.path, spec)
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    cached = cache_root / spec.path
    if cached.is_file():
        return _check(cached, spec)
    failures = []
    for url in spec.urls:
        try:
            logger.info("fetching %s from %s", spec.path, url)
            return download_verified(url, cached, spec.sha256, spec.size)
        except DatasetUnavailableError as error:
            failures.append(str(error))
    where = f"{folder} has no {spec.path}; " if folder is not None else ""
    raise DatasetUnavailableError(
        f"{spec.description} not found: {where}{spec.hint()} ({'; '.join(failures)})"
    )
