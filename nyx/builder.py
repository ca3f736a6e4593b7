"""Incremental, crash-safe index builds from a folder of mixed documents (``nyx-index build``)."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from indexes import BM25Config, EncoderMismatchError, IndexDirectory, analyzer_id
from nyx.chunking import DEFAULT_MAX_WORDS
from nyx.content import Item
from nyx.corpus import SourceError, SourceFile, parse_source, scan_corpus
from nyx.embedding_cache import EmbeddingCache
from nyx.encoders import Encoder, load_encoder
from nyx.retriever import Retriever

logger = logging.getLogger(__name__)

CACHE_DIR = ".embedding-cache"


@dataclass
class BuildSummary:
    """What a build did; printed by the CLI and returned to callers."""

    index: str
    corpus: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    documents: int = 0
    vectors: int = 0
    embedded: int = 0
    reused_from_cache: int = 0
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    generation: str = ""
    #: the BM25 index was rebuilt from stored text (another analyzer or BM25 setting)
    reanalyzed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BuildOptions:
    model: str | Encoder | None = None
    backend: str = "faiss"
    backend_params: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 32
    max_words: int = DEFAULT_MAX_WORDS
    show_progress: bool = True
    #: documents embedded per shard written to the embedding cache
    shard_size: int = 64


def cache_key(cache: EmbeddingCache, item: Item, max_words: int) -> str:
    """The embedding-cache key of ``item``'s vectors (its content, the chunk size, the encoder
    version): the same in the local build and in every Ray encoder actor."""
    return cache.key(item.content_hash(), f"w{max_words}")


def build_index(corpus: str | Path, output: str | Path,
                options: BuildOptions | None = None) -> BuildSummary:
    """Build or update the index at ``output`` from the folder ``corpus``.

    Only changed files are re-embedded (content hashes). The previous generation stays live
    until the new one is committed; a killed build resumes from its embedding shards.
    Raises :class:`indexes.IndexLockedError` if another process is writing the index.
    """
    options = options or BuildOptions()
    start = time.perf_counter()
    root = Path(corpus).resolve()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    directory = IndexDirectory(out)
    summary = BuildSummary(index=str(out), corpus=str(root))
    with directory.lock():
        retriever = _open_retriever(directory, out, options, summary)
        try:
            new_sources = _update(retriever, root, out, options, summary)
            summary.documents = retriever.count()
            summary.vectors = retriever.index.count()
            sources = new_sources
            current = directory.current()
            if current is not None and not (summary.added or summary.updated or summary.removed
                                            or summary.reanalyzed):
                summary.generation = current.name  # nothing changed: keep the live generation
            else:
                generation = retriever.save(out, sources=sources, corpus_root=str(root),
                                            lock=False)
                summary.generation = generation.name
            EmbeddingCache(out / CACHE_DIR, retriever.encoder.version).clear()
        finally:
            retriever.close()
    summary.seconds = time.perf_counter() - start
    summary.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return summary


def _open_retriever(directory: IndexDirectory, out: Path, options: BuildOptions,
                    summary: BuildSummary) -> Retriever:
    if directory.current() is None:
        return _new_retriever(options.model, options)
    retriever = Retriever.load(out)  # loads no model
    spec, spec_options = retriever.built_with or ("", {})
    asked = options.model
    if asked is not None and (getattr(asked, "spec", str(asked)),
                              getattr(asked, "spec_options", {})) != (spec, spec_options):
        # Another encoder, or other options: accepted only if it computes the same vectors
        # (the error says a new index is needed otherwise).
        retriever.close()
        return Retriever.load(out, encoder=asked)
    encoder = asked if isinstance(asked, Encoder) else load_encoder(spec, **spec_options)
    manifest = retriever.manifest
    assert manifest is not None  # a loaded index has one
    try:
        manifest.check_encoder(encoder.name, encoder.version, encoder.dim)
    except EncoderMismatchError:
        # Same encoder and options, new version (an upgrade changed its vectors): embed everything
        # again into a new generation; the old one stays live until the new one is committed.
        retriever.close()
        summary.notes.append(("*", f"encoder {spec} changed since this index was built "
                                   f"({manifest.encoder.version} -> {encoder.version}); every "
                                   "file is embedded again"))
        logger.warning("%s", summary.notes[-1][1])
        return _new_retriever(encoder, options)
    retriever.encoder = encoder
    _reanalyze_if_changed(retriever, summary)
    return retriever


def _reanalyze_if_changed(retriever: Retriever, summary: BuildSummary) -> None:
    """An index whose BM25 analyzer or parameters differ from this version's is re-analysed
    from its stored text (seconds, no model), so queries and documents share one analyzer."""
    lexical = retriever.lexical
    if lexical is None:
        return
    wanted = BM25Config()
    if (lexical.analyzer_id(), lexical.config.k1, lexical.config.b) == (
            analyzer_id(wanted.tokenizer), wanted.k1, wanted.b):
        return
    old = f"{lexical.analyzer_id()} k1={lexical.config.k1} b={lexical.config.b}"
    new = f"{analyzer_id(wanted.tokenizer)} k1={wanted.k1} b={wanted.b}"
    count = retriever.reanalyze(wanted)
    summary.reanalyzed = True
    summary.notes.append(("*", f"lexical analyzer changed since this index was built ({old} -> "
                               f"{new}); BM25 re-indexed {count} documents from their stored "
                               "text, nothing re-embedded"))
    logger.warning("%s", summary.notes[-1][1])


def _new_retriever(encoder: Encoder | str | None, options: BuildOptions) -> Retriever:
    return Retriever(encoder=encoder, index=options.backend, max_words=options.max_words,
                     **options.backend_params)


def _update(retriever: Retriever, root: Path, out: Path, options: BuildOptions,
            summary: BuildSummary) -> dict[str, str]:
    """Apply the corpus's changes to ``retriever``; returns every indexed source's hash."""
    scan = scan_corpus(root)
    summary.skipped.extend(scan.skipped)
    # The index folder may sit inside the corpus; never index it.
    files = [f for f in scan.files if out.resolve() not in f.path.resolve().parents]
    old = dict(retriever.manifest.sources) if retriever.manifest else {}
    for f in tqdm(files, desc="hashing", unit="file", disable=not options.show_progress,
                  leave=False):
        f.compute_hash()
    current = {f.rel: f for f in files}
    summary.removed = sorted(set(old) - set(current))
    changed = [f for f in files if f.rel in old and old[f.rel] != f.content_hash]
    added = [f for f in files if f.rel not in old]
    summary.unchanged = len(files) - len(changed) - len(added)
    for rel in summary.removed + [f.rel for f in changed]:
        retriever.delete(retriever.store.ids_for_source(rel))
    # Unchanged sources carry over; changed ones re-enter only if they parse again.
    new_sources = {f.rel: f.content_hash for f in files if old.get(f.rel) == f.content_hash}
    todo = changed + added
    cache = EmbeddingCache(out / CACHE_DIR, retriever.encoder.version)
    with tqdm(total=len(todo), desc="indexing", unit="file",
              disable=not options.show_progress) as bar:
        for batch in _batches(todo, root, options, summary, bar):
            _add_batch(retriever, batch, cache, options, summary)
            for f, _ in batch:
                new_sources[f.rel] = f.content_hash
    summary.added = sorted(f.rel for f in added if f.rel in new_sources)
    summary.updated = sorted(f.rel for f in changed)
    return new_sources


def _batches(files: list[SourceFile], root: Path, options: BuildOptions, summary: BuildSummary,
             bar: tqdm) -> Iterator[list[tuple[SourceFile, list[Item]]]]:
    """Parse files lazily into batches of about ``shard_size`` documents."""
    batch: list[tuple[SourceFile, list[Item]]] = []
    size = 0
    for f in files:
        try:
            parsed = parse_source(f, root, options.max_words)
        except SourceError as exc:
            summary.skipped.append((f.rel, str(exc)))
            bar.update(1)
            continue
        except OSError as exc:
            summary.skipped.append((f.rel, f"unreadable: {exc}"))
            bar.update(1)
            continue
        summary.notes.extend((f.rel, note) for note in parsed.notes)
        batch.append((f, parsed.items))
        size += len(parsed.items)
        bar.update(1)
        if size >= options.shard_size:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _add_batch(retriever: Retriever, batch: list[tuple[SourceFile, list[Item]]],
               cache: EmbeddingCache, options: BuildOptions, summary: BuildSummary) -> None:
    items = [item for _, group in batch for item in group]
    keys = [cache_key(cache, item, retriever.max_words) for item in items]
    cached = [cache.pop(k) for k in keys]
    missing = [i for i, v in enumerate(cached) if v is None]
    fresh: list[tuple[str, Any]] = []
    if missing:
        todo = [items[i] for i in missing]
        vectors = retriever.encode_for_add(todo, batch_size=options.batch_size)
        sizes = [len(retriever._pieces(item)) for item in todo]
        offset = 0
        for i, n in zip(missing, sizes):
            cached[i] = vectors[offset:offset + n]
            fresh.append((keys[i], cached[i]))
            offset += n
        cache.put_many(fresh)
    summary.embedded += len(missing)
    summary.reused_from_cache += len(items) - len(missing)
    all_vectors = np.concatenate(cached) if cached else None
    for f, group in batch:
        for item in group:
            item.metadata.setdefault("source", f.rel)
    retriever.add(items, vectors=all_vectors, batch_size=options.batch_size)
