"""Writing a retriever as a generation of an index folder, and opening one.

An index folder holds numbered generations and a ``CURRENT`` file (``nyx.indexes.IndexDirectory``).
A generation is ``vectors/`` (the vector index), ``lexical/`` (BM25), ``docs.sqlite`` (the
document store), ``media/`` (images, see :mod:`nyx.media_store`), ``manifest.json`` and
``retriever.json`` (the settings a retriever is rebuilt from). Opening one never contacts a
server or a model hub the folder names, unless the caller trusts it.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nyx.hybrid import HybridConfig
from nyx.indexes import (
    BackendInfo,
    DocStore,
    EncoderInfo,
    IndexDirectory,
    LexicalIndex,
    Manifest,
    StaleIndexError,
    VectorIndex,
    load_index,
)

if TYPE_CHECKING:
    from nyx.retriever import Retriever

logger = logging.getLogger(__name__)

__all__ = ["RETRIEVER_FILE", "IndexGeneration", "open_generation", "read_settings",
           "remote_vectors", "save_retriever", "write_generation"]

RETRIEVER_FILE = "retriever.json"
_SETTINGS_TYPES: dict[str, type] = {"encoder": str, "hybrid": dict, "max_words": int,
                                    "lexical": bool}


@dataclass
class IndexGeneration:
    """An opened generation: what a :class:`~nyx.Retriever` is assembled from."""

    folder: Path
    manifest: Manifest
    settings: dict[str, Any]
    index: VectorIndex
    lexical: LexicalIndex | None
    hybrid: HybridConfig
    max_words: int
    #: the generation's images (read-only), if it has any
    media: Path | None

    @property
    def encoder_spec(self) -> str:
        return str(self.settings["encoder"])

    @property
    def encoder_options(self) -> dict[str, Any]:
        return dict(self.settings.get("encoder_options", {}))

    def copy_store(self, target: Path) -> DocStore:
        """The document store, read in place and copied to ``target`` only at its first write,
        so that the committed generation is never modified and opening copies nothing."""
        return DocStore(self.folder / "docs.sqlite", copy_on_write=target)


def open_generation(path: str | Path, *, trust_remote: bool = False,
                    index_options: dict[str, Any] | None = None) -> IndexGeneration:
    """Open the live generation of the index folder ``path``, checked for consistency."""
    directory = IndexDirectory(path)
    folder = directory.current()
    if folder is None:
        raise FileNotFoundError(f"no index at {path}: build one with `nyx-index build`")
    manifest = Manifest.load(folder)
    settings = read_settings(folder / RETRIEVER_FILE)
    index_options = dict(index_options or {})
    remote = remote_vectors(folder / "vectors")
    if remote and not trust_remote and "url" not in index_options:
        raise ValueError(
            f"{path} keeps its vectors on a Qdrant server at {remote}; an index folder is "
            "not trusted to name a server. Pass index_options={'url': ...} (nyx-index: "
            "--qdrant-url) or trust_remote=True (--trust-remote) to connect")
    index = load_index(folder / "vectors", **index_options)
    lexical = LexicalIndex.load(folder / "lexical") if settings["lexical"] else None
    if (lexical is not None and manifest.analyzer is not None
            and manifest.analyzer != lexical.analyzer_id()):
        raise ValueError(
            f"{folder}: the manifest records lexical analyzer {manifest.analyzer!r} but the "
            f"BM25 index was written with {lexical.analyzer_id()!r}; the folder is "
            "inconsistent: rebuild it with `nyx-index build` (or restore it from a copy)")
    media = folder / "media" if (folder / "media").is_dir() else None
    return IndexGeneration(folder, manifest, settings, index, lexical,
                           HybridConfig(**settings["hybrid"]), int(settings["max_words"]), media)


def save_retriever(retriever: Retriever, path: str | Path, *,
                   sources: dict[str, str] | None = None, corpus_root: str | None = None,
                   lock: bool = True, reading: dict[str, Any] | None = None) -> Path:
    """Write ``retriever`` as a new generation of ``path`` (atomic); see
    :meth:`nyx.Retriever.save`."""
    directory = IndexDirectory(path)
    Path(path).mkdir(parents=True, exist_ok=True)
    guard = directory.lock().acquire() if lock else None
    try:
        _check_not_stale(retriever, directory)
        staging = directory.begin(copy_current=False)
        try:
            write_generation(retriever, staging, sources=sources, corpus_root=corpus_root,
                             reading=reading)
            committed = directory.commit(staging)
        except BaseException:
            # a failed save (a full disk, an error, Ctrl-C) leaves no staging folder behind
            if directory.current_name() != staging.name:
                directory.abort(staging)
            raise
        retriever.loaded_from = (Path(path).resolve(), committed.name)
        retriever.encoder_root = committed
        return committed
    finally:
        if guard is not None:
            guard.release()


def _check_not_stale(retriever: Retriever, directory: IndexDirectory) -> None:
    loaded = retriever.loaded_from
    if loaded is None or loaded[0] != directory.root.resolve():
        return
    live = directory.current_name()
    if live != loaded[1]:
        raise StaleIndexError(
            f"{directory.root} changed since this retriever loaded it: {loaded[1]} "
            f"was live then, {live} is now (another process saved or built it). Saving "
            "would undo that change; load the index again and re-apply yours")


def write_generation(retriever: Retriever, folder: Path, *,
                     sources: dict[str, str] | None = None,
                     corpus_root: str | None = None,
                     reading: dict[str, Any] | None = None) -> None:
    """Write every file of ``retriever``'s index into ``folder`` (a staging generation);
    ``sources``, ``corpus_root`` and ``reading`` (what ``nyx-index build`` read and how) go
    into the manifest, the previous generation's kept where not given."""
    r = retriever
    r.sync_sparse()
    r.index.save(folder / "vectors")
    if r.lexical is not None:
        r.lexical.save(folder / "lexical")
    _backup_sqlite(r.store, folder / "docs.sqlite")
    r.media.write_into(folder / "media")
    previous = r.manifest
    if sources is None and previous is not None and r.deleted_sources:
        # A file with deleted documents is no longer indexed as it is on disk: dropping it
        # from the manifest makes the next build index it again.
        sources = {rel: digest for rel, digest in previous.sources.items()
                   if rel not in r.deleted_sources}
    if not r.encoder_loaded and previous is not None:
        # A loaded index whose encoder never ran (deletes only): no model is needed to save.
        encoder_info = previous.encoder
    else:
        encoder_info = EncoderInfo(r.encoder.name, r.encoder.version, r.encoder.dim)
    spec, options = r.encoder_spec()
    manifest = Manifest(
        encoder=encoder_info,
        backend=BackendInfo(type(r.index).__name__, dict(r.index.params)),
        corpus_root=corpus_root or (previous.corpus_root if previous else None),
        sources=dict(sources if sources is not None else
                     (previous.sources if previous else {})),
        reading=dict(reading if reading is not None else
                     (previous.reading if previous else {})),
        counts={"documents": r.store.count(), "vectors": r.index.count(),
                "lexical": r.lexical.count() if r.lexical else 0},
        analyzer=r.lexical.analyzer_id() if r.lexical else None,
        checksums=True,  # the commit writes checksums.json
    )
    if previous is not None:
        manifest.created = previous.created
    manifest.save(folder)
    settings = {"encoder": spec, "encoder_options": options,
                "hybrid": r.hybrid.to_dict(), "max_words": r.max_words,
                "lexical": r.lexical is not None}
    (folder / RETRIEVER_FILE).write_text(json.dumps(settings, indent=2))
    if options.get("text_adapter"):
        _copy_adapter(r, str(options["text_adapter"]), folder)
    r.manifest = manifest


def _copy_adapter(r: Retriever, relative: str, folder: Path) -> None:
    """Each generation holds its encoder's text adapter (``nyx-index adapt``), so that it is
    checksummed with it and outlives the generation it came from."""
    from nyx.encoders.text_adapter import adapter_relpath

    adapter_relpath(relative)  # the recorded form: text-adapter/<checksum>.safetensors
    encoder = r.encoder if r.encoder_loaded else None
    loaded = getattr(encoder, "text_adapter", None)
    source = loaded.path if loaded is not None else (
        r.encoder_root / relative if r.encoder_root is not None else None)
    if source is None or not Path(source).is_file():
        raise FileNotFoundError(f"the encoder's text adapter {relative} is missing (looked in "
                                f"{source}); undo the adaptation or restore the file")
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def read_settings(file: Path) -> dict[str, Any]:
    """``retriever.json``, checked: a damaged file is a clear error, not a KeyError."""
    try:
        settings = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{file} is missing; the index is incomplete - rebuild it"
                                ) from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{file} cannot be read ({exc}); rebuild the index") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{file} is not a JSON object; rebuild the index")
    for key, kind in _SETTINGS_TYPES.items():
        if not isinstance(settings.get(key), kind):
            raise ValueError(f"{file} has no valid {key!r} ({kind.__name__}); rebuild the index")
    return settings


def remote_vectors(folder: Path) -> str | None:
    """The server URL a saved vector index names, if any (read, never contacted)."""
    try:
        config = json.loads((folder / "index.json").read_text(encoding="utf-8")).get("config")
    except (OSError, ValueError, AttributeError):
        return None  # load_index reports a damaged file with its own message
    url = config.get("url") if isinstance(config, dict) else None
    return str(url) if url else None


def _backup_sqlite(store: DocStore, target: Path) -> None:
    """Copy the live store into ``target`` consistently (SQLite's online backup)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    dest = sqlite3.connect(str(target))
    try:
        store.conn.backup(dest)
        dest.commit()
    finally:
        dest.close()
