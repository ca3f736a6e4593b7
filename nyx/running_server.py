"""A running ``nyx-index serve`` announces itself, so that ``nyx-index search`` on the same index
can ask it instead of loading the models again.

The note holds the URL, the process id, the index and the live generation the server loaded.
It lives in the user's runtime folder (``$NYX_RUNTIME_DIR``, default ``~/.cache/nyx/run``: owned
by the user, not writable by others), keyed by the index's real path; never in the index folder,
which may come from someone else. It is trusted only when that process is alive, the generation
is still live, the server needs no API key and answers ``/health`` on a loopback address.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nyx.indexes import IndexDirectory

logger = logging.getLogger(__name__)

__all__ = ["RUNTIME_ENV", "announce", "find_server", "locate_server", "note_path",
           "search_server"]

RUNTIME_ENV = "NYX_RUNTIME_DIR"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: how long a search waits for a server before loading the models itself
TIMEOUT_S = 2.0


def runtime_dir(create: bool = False) -> Path | None:
    """The user's runtime folder for server notes, or None when it is not safe to trust: not a
    real folder, owned by someone else, or writable by group or others."""
    folder = Path(os.environ.get(RUNTIME_ENV) or Path.home() / ".cache" / "nyx" / "run")
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.lstat()
    except OSError:
        return None
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
            or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        logger.info("not using %s for server notes: it must be a folder of yours that only "
                    "you can write", folder)
        return None
    return folder


def _real(index: str | os.PathLike[str]) -> str:
    return str(Path(index).resolve())


def note_path(index: str | os.PathLike[str], create: bool = False) -> Path | None:
    """Where the note of a server for ``index`` lives (None without a trusted runtime folder)."""
    folder = runtime_dir(create)
    if folder is None:
        return None
    key = hashlib.sha256(os.fsencode(_real(index))).hexdigest()[:32]
    return folder / f"serving-{key}.json"


@contextmanager
def announce(index: str | os.PathLike[str], url: str, *, auth: bool) -> Iterator[None]:
    """Write the note while the block runs (a server's lifetime); remove it afterwards."""
    current = IndexDirectory(index).current()
    note = note_path(index, create=True)
    data = {"url": url.rstrip("/"), "pid": os.getpid(), "auth": auth, "index": _real(index),
            "generation": current.name if current else None}
    if note is not None:
        try:
            tmp = note.with_name(f".{note.name}.{os.getpid()}")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, note)
        except OSError as error:  # the server still serves; searches load models then
            logger.info("cannot write %s (%s); nyx-index search will not use this server",
                        note, error)
    try:
        yield
    finally:
        try:
            if note is not None and json.loads(
                    note.read_text(encoding="utf-8")).get("pid") == os.getpid():
                note.unlink()
        except (OSError, ValueError):
            pass


def find_server(index: str | os.PathLike[str]) -> str | None:
    """The URL of a live keyless server on this machine serving the index's live generation."""
    return locate_server(index)[0]


def locate_server(index: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """``(url, None)`` for a usable server, else ``(None, why)``; ``why`` is None when no
    server announced itself for this index (nothing worth saying)."""
    note = note_path(index)
    if note is None or not note.is_file():
        return None, None
    try:
        data = json.loads(note.read_text(encoding="utf-8"))
        url, pid = str(data["url"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, f"the server note {note} cannot be read"
    current = IndexDirectory(index).current()
    if data.get("index") != _real(index) or current is None:
        return None, None
    if data.get("auth"):
        return None, f"the server at {url} needs an API key"
    if urllib.parse.urlsplit(url).hostname not in LOOPBACK:
        return None, f"the server note names {url}, not a loopback address"
    if not _alive(pid):
        return None, f"the server that announced {url} (PID {pid}) is not running"
    try:
        # a server follows rebuilds: asking /health makes it open the live generation first
        with urllib.request.urlopen(f"{url}/health", timeout=TIMEOUT_S) as reply:
            health = json.loads(reply.read())
    except (OSError, ValueError) as error:
        return None, f"the server at {url} does not answer ({error})"
    if health.get("status") != "ok":
        return None, f"the server at {url} reports {health.get('status')!r}"
    if health.get("generation", current.name) != current.name:
        return None, (f"the server at {url} still serves {health.get('generation')}, not the "
                      f"live {current.name} (it could not open it: see its log)")
    return url, None


def search_server(url: str, params: dict[str, Any],
                  image: Path | None = None) -> list[dict[str, Any]] | None:
    """``GET /search`` with ``params`` (``POST`` of a multipart form with an ``image``);
    ``None`` when the server does not answer. A refused request raises ValueError."""
    fields = {k: str(v) for k, v in params.items() if v is not None}
    if image is None:
        request = urllib.request.Request(f"{url}/search?{urllib.parse.urlencode(fields)}")
    else:
        fields["query"] = fields.pop("q", "")
        body, kind = _multipart(fields, image)
        request = urllib.request.Request(f"{url}/search", data=body, method="POST",
                                         headers={"Content-Type": kind})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return list(json.loads(reply.read())["results"])
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(body)["error"]
        except (ValueError, KeyError, TypeError):
            message = body[:200]
        raise ValueError(message) from None
    except (OSError, ValueError, KeyError):
        return None


def _multipart(fields: dict[str, str], image: Path) -> tuple[bytes, str]:
    boundary = "nyx-" + os.urandom(12).hex()
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
             f"{value}\r\n".encode() for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                 f'filename="{image.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode() + image.read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
