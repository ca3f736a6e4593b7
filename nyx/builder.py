"""Incremental, crash-safe index builds from a folder of mixed documents (``nyx-index build``)."""

from __future__ import annotations

import itertools
import logging
import resource
import shutil
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nyx.chunking import DEFAULT_MAX_WORDS
from nyx.content import Item
from nyx.corpus import ReadOptions, ScanResult, SourceError, SourceFile, scan_corpus
from nyx.embedding_cache import EmbeddingCache
from nyx.encoders import Encoder, load_encoder
from nyx.encoders.spec import EncoderSpec
from nyx.indexes import BM25Config, EncoderMismatchError, IndexDirectory, analyzer_id
from nyx.paths import PathRefused
from nyx.prepared import PreparedItem
from nyx.readers import Parsed, parse_source
from nyx.retriever import Retriever

logger = logging.getLogger(__name__)

CACHE_DIR = ".embedding-cache"
#: scratch files of the vectors and BM25 documents added since the build began (indexes/spill.py)
SPILL_DIR = ".build-spill"
#: Prefix of a manifest source hash whose file lost an id collision: some of its documents are
#: not indexed because another file holds their ids. It is read again whenever the corpus
#: changes (the holder may be gone) and reported at every build until the collision ends.
COLLIDED = "collided:"


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
    #: files some of whose documents were left out because another file holds their ids
    collided: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BuildOptions:
    model: str | Encoder | None = None
    #: ``faiss`` or ``qdrant`` for a new index; ``None``: FAISS, or what an existing index uses
    backend: str | None = None
    backend_params: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 32
    max_words: int = DEFAULT_MAX_WORDS
    show_progress: bool = True
    #: documents embedded per shard written to the embedding cache
    shard_size: int = 64
    #: let an existing index folder name a model to download or a Qdrant server to connect to
    trust_remote: bool = False
    #: index files with more than one name (hard links); off: another name may lie outside
    allow_hardlinks: bool = False
    #: more extensions read as plain text; ``None``: what the index recorded (or none)
    include_ext: tuple[str, ...] | None = None
    #: glob patterns not read (see :class:`nyx.corpus.ReadOptions`); ``None``: as recorded
    exclude: tuple[str, ...] | None = None


def reading_options(options: BuildOptions, before: ReadOptions) -> ReadOptions:
    """What a build reads: the options given, else what the index recorded at its last
    build (an option given replaces the recorded one; an empty tuple clears it)."""
    return ReadOptions(
        before.include_ext if options.include_ext is None else tuple(options.include_ext),
        before.exclude if options.exclude is None else tuple(options.exclude))


def cache_key(cache: EmbeddingCache, content_hash: str, max_words: int) -> str:
    """The embedding-cache key of an item's vectors (its content hash, the chunk size, the
    encoder version): the same in the local build and in every Ray encoder actor."""
    return cache.key(content_hash, f"w{max_words}")


def build_index(corpus: str | Path, output: str | Path, options: BuildOptions | None = None,
                *, scan: ScanResult | None = None) -> BuildSummary:
    """Build or update the index at ``output`` from the folder ``corpus``.

    Only changed files are re-embedded (content hashes). The previous generation stays live
    until the new one is committed; a killed build resumes from its embedding shards.
    ``scan`` is a scan of ``corpus`` already made (the Ray build's, its files hashed where the
    index held them): used instead of scanning again if it read the corpus as this build does.
    Raises :class:`indexes.IndexLockedError` if another process is writing the index.
    """
    options = options or BuildOptions()
    start = time.perf_counter()
    root = Path(corpus).resolve()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    directory = IndexDirectory(out)
    summary = BuildSummary(index=str(out), corpus=str(root))
    with directory.lock(), warnings.catch_warnings(record=True) as caught:
        # library warnings (PIL on odd EXIF, ...) go into the summary, not across the bar
        warnings.simplefilter("default")
        retriever = _open_retriever(directory, out, options, summary)
        spill = out / SPILL_DIR
        shutil.rmtree(spill, ignore_errors=True)  # left by a killed build: scratch only
        retriever.index.defer_adds(spill)  # the index structures are built once, at the save
        if retriever.lexical is not None:
            retriever.lexical.defer_adds(spill)
        try:
            recorded = ReadOptions.from_dict(retriever.manifest.reading
                                             if retriever.manifest else None)
            reading = reading_options(options, recorded)
            if scan is None or not scan.made_as(root, reading, options.allow_hardlinks):
                scan = scan_corpus(root, allow_hardlinks=options.allow_hardlinks,
                                   reading=reading)
            new_sources = _update(retriever, scan, out, options, summary)
            summary.documents = retriever.count()
            summary.vectors = retriever.index.count()
            sources = new_sources
            current = directory.current()
            if current is not None and not (summary.added or summary.updated or summary.removed
                                            or summary.reanalyzed or reading != recorded):
                summary.generation = current.name  # nothing changed: keep the live generation
            else:
                if options.show_progress:  # writing vectors, BM25 and store takes a while
                    tqdm.write(f"writing the index: {summary.documents} documents, "
                               f"{summary.vectors} vectors ...", file=sys.stderr)
                generation = retriever.save(out, sources=sources, corpus_root=str(root),
                                            lock=False, reading=reading.to_dict())
                summary.generation = generation.name
            # load=False: reading every shard only to delete them held all vectors once more
            EmbeddingCache(out / CACHE_DIR, retriever.encoder.version, load=False).clear()
        finally:
            retriever.close()
            shutil.rmtree(spill, ignore_errors=True)
    _note_warnings(summary, caught)
    summary.seconds = time.perf_counter() - start
    summary.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return summary


def _note_warnings(summary: BuildSummary, caught: list[warnings.WarningMessage]) -> None:
    """One summary note per distinct warning a library raised during the build."""
    counts = Counter(f"{w.category.__name__}: {w.message}" for w in caught)
    for text, n in counts.items():
        summary.notes.append(("*", f"warning {text}" + (f" ({n} times)" if n > 1 else "")))


def _open_retriever(directory: IndexDirectory, out: Path, options: BuildOptions,
                    summary: BuildSummary) -> Retriever:
    if directory.current() is None:
        return _new_retriever(options.model, options)
    remote = {k: v for k, v in options.backend_params.items() if k in ("url", "api_key")}
    retriever = Retriever.load(out, trust_remote=options.trust_remote,  # loads no model
                               index_options=remote or None)
    spec, spec_options = retriever.built_with or ("", {})
    asked = options.model
    try:
        _check_options_fit(retriever, out, options)
    except ValueError:
        retriever.close()
        raise
    asked_spec = asked.rebuild_spec() if isinstance(asked, Encoder) else (str(asked), {})
    if asked is not None and asked_spec != (spec, spec_options):
        # Another encoder, or other options: accepted only if it computes the same vectors
        # (the error says a new index is needed otherwise).
        retriever.close()
        return Retriever.load(out, encoder=asked, index_options=remote or None)
    if asked is None:
        retriever.check_encoder_is_local()  # the index names it: never fetched unless trusted
    encoder = asked if isinstance(asked, Encoder) else load_encoder(
        spec, root=retriever.encoder_root, **spec_options)
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


def _check_options_fit(retriever: Retriever, out: Path, options: BuildOptions) -> None:
    """Refuse, before any model is loaded or downloaded, a backend or an encoder family that
    differs from the existing index's: they apply to new indexes only."""
    manifest = retriever.manifest
    assert manifest is not None  # a loaded index has one
    built = manifest.backend.name.lower().removesuffix("index")
    if options.backend is not None and options.backend != built:
        raise ValueError(f"{out} keeps its vectors in {built}; --backend {options.backend} "
                         "applies to new indexes only: build into another folder "
                         f"(-o NEW_FOLDER --backend {options.backend}) or leave --backend out")
    asked = options.model
    if isinstance(asked, (str, Path)):
        built = retriever.built_with[0] if retriever.built_with else ""
        if EncoderSpec.parse(asked).kind != (EncoderSpec.parse(built).kind if built else ""):
            raise EncoderMismatchError(
                f"{out} was built with encoder {manifest.encoder.name}; --model {asked} "
                "computes other vectors and cannot update it. Leave --model out to update "
                f"this index, or build a new one: -o NEW_FOLDER --model {asked}")


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
    return Retriever(encoder=encoder, index=options.backend or "faiss",
                     max_words=options.max_words,
                     **options.backend_params)


def _update(retriever: Retriever, scan: ScanResult, out: Path, options: BuildOptions,
            summary: BuildSummary) -> dict[str, str]:
    """Apply the corpus's changes to ``retriever``; returns every indexed source's hash."""
    assert scan.root is not None  # made by scan_corpus
    root = scan.root
    summary.skipped.extend(scan.skipped)
    # The index folder may sit inside the corpus; never index it.
    files = [f for f in scan.files if out.resolve() not in f.path.resolve().parents]
    recorded = dict(retriever.manifest.sources) if retriever.manifest else {}
    collided = {rel for rel, digest in recorded.items() if digest.startswith(COLLIDED)}
    old = {rel: digest.removeprefix(COLLIDED) for rel, digest in recorded.items()}
    # A file the index holds is hashed to see whether it changed; a new one is hashed once it
    # is read (see _parse), so a first build reads each file once.
    for f in tqdm([f for f in files if f.rel in old and not f.content_hash], desc="hashing",
                  unit="file", disable=not options.show_progress, leave=False):
        f.compute_hash()
    current = {f.rel: f for f in files}
    summary.removed = sorted(set(old) - set(current))
    changed = [f for f in files if f.rel in old and old[f.rel] != f.content_hash]
    added = [f for f in files if f.rel not in old]
    if collided and (summary.removed or changed or added):
        # an id's holder may have gone or changed: the files that lost a collision claim again
        changed += [f for f in files if f.rel in collided and f not in changed]
    else:
        for rel in sorted(collided & set(current)):
            summary.collided.append(rel)
            summary.notes.append((rel, "some documents of this file are still left out: "
                                       "another file holds their ids (ids must be unique "
                                       "across the corpus)"))
    summary.unchanged = len(files) - len(changed) - len(added)
    for rel in summary.removed + [f.rel for f in changed + added]:
        # an added file may have documents left from a partial delete through the API
        retriever.delete(retriever.store.ids_for_source(rel))
    # Unchanged sources carry over; changed ones re-enter only if they parse again.
    new_sources = {f.rel: recorded[f.rel] for f in files
                   if old.get(f.rel) == f.content_hash and f not in changed}
    todo = changed + added
    cache = EmbeddingCache(out / CACHE_DIR, retriever.encoder.version)
    # Progress is by work, not by file: a few large files dominate a folder, so a per-file
    # bar's ETA swings; text counts its bytes, an image a fixed IMAGE_WORK_BYTES.
    with tqdm(total=sum(map(_work, todo)), desc="indexing", unit="B", unit_scale=True,
              disable=not options.show_progress) as bar:
        seen: dict[str, SourceFile] = {}
        indexed: set[str] = set()
        for batch in _batches(todo, root, options, summary, bar):
            indexed |= _add_batch(retriever, batch, cache, options, summary)
            seen.update((f.rel, f) for f, _ in batch)
            bar.set_postfix_str(f"{len(seen)}/{len(todo)} files, "
                                f"{summary.embedded + summary.reused_from_cache} passages")
        for rel, f in seen.items():
            if rel in indexed:
                lost = rel in summary.collided
                new_sources[rel] = f"{COLLIDED}{f.content_hash}" if lost else f.content_hash
            else:
                summary.skipped.append((rel, "no document of this file could be indexed (see "
                                             "its notes)"))
    summary.added = sorted(f.rel for f in added if f.rel in new_sources)
    summary.updated = sorted(f.rel for f in changed)
    return new_sources


def _batches(files: list[SourceFile], root: Path, options: BuildOptions, summary: BuildSummary,
             bar: tqdm) -> Iterator[list[tuple[SourceFile, list[Item]]]]:
    """Parse files lazily into batches of at most ``shard_size`` documents; a large file is
    spread over several batches, so memory stays bounded however large a file is."""
    batch: list[tuple[SourceFile, list[Item]]] = []
    size = 0
    for f in files:
        parsed = _parse(f, root, options, summary)
        if parsed is not None:
            items = iter(parsed.items)
            while True:
                try:
                    piece = list(itertools.islice(items, options.shard_size - size))
                except Exception as exc:  # a streamed file that fails part-way
                    summary.notes.append((f.rel, f"reading stopped part-way ({exc}); the rest "
                                                 "of the file is not indexed"))
                    break
                if not piece:
                    break
                batch.append((f, piece))
                size += len(piece)
                if size >= options.shard_size:
                    yield batch
                    batch, size = [], 0
            summary.notes.extend((f.rel, note) for note in parsed.notes)
        bar.update(_work(f))
    if batch:
        yield batch


#: the indexing work one image counts for in the progress bar, in bytes of text: encoding and
#: reading an image costs about as much as embedding 20 KB of text on a CPU
IMAGE_WORK_BYTES = 20_000


def _work(f: SourceFile) -> int:
    return IMAGE_WORK_BYTES if f.kind == "image" else max(f.size, 1)


def _parse(f: SourceFile, root: Path, options: BuildOptions,
           summary: BuildSummary) -> Parsed | None:
    """One file's items, or ``None`` with the reason in the summary: no error stops a build.
    A new file is hashed here, after its reader (which hashes an image file as it reads it)."""
    try:
        parsed = parse_source(f, root, options.max_words)
        if not f.content_hash:
            f.compute_hash()
        return parsed
    except (SourceError, PathRefused) as exc:
        summary.skipped.append((f.rel, str(exc)))
    except OSError as exc:
        summary.skipped.append((f.rel, f"unreadable: {exc.strerror or exc}"))
    except Exception as exc:  # one bad file never stops the build: report it, go on
        logger.debug("reading %s failed", f.rel, exc_info=True)
        summary.skipped.append((f.rel, f"could not be read: {type(exc).__name__}: {exc}"))
    return None


def _add_batch(retriever: Retriever, batch: list[tuple[SourceFile, list[Item]]],
               cache: EmbeddingCache, options: BuildOptions, summary: BuildSummary) -> set[str]:
    """Embed and add one batch; returns the sources that kept at least one document.

    Each item is hashed and chunked once (:meth:`Retriever.prepare`); its hash keys the
    embedding cache and the store, its pieces are embedded, and it goes to the retriever with
    its vectors. An item whose id another source already holds, or that cannot be embedded,
    is left out with a note naming it; the rest of the batch goes in.
    """
    batch = _unique_ids(retriever, batch, summary)
    entries = [(f, item) for f, group in batch for item in group]
    for f, item in entries:
        item.metadata["source"] = f.rel  # the builder's to set, never a record's
    prepared = _prepare(retriever, entries, summary)
    if not prepared:
        return set()
    keys = [cache_key(cache, p.content_hash, retriever.max_words) for _, p in prepared]
    for key, (_, p) in zip(keys, prepared):
        p.vectors = cache.pop(key)
    missing = [i for i, (_, p) in enumerate(prepared) if p.vectors is None]
    if missing:
        _embed(retriever, [prepared[i] for i in missing], options, summary)
        cache.put_many([(keys[i], vectors) for i in missing
                        if (vectors := prepared[i][1].vectors) is not None])
    keep = [(f, p) for f, p in prepared if p.vectors is not None]
    summary.embedded += len(missing) - (len(prepared) - len(keep))
    summary.reused_from_cache += len(prepared) - len(missing)
    if not keep:
        return set()
    retriever.add([p for _, p in keep], batch_size=options.batch_size)
    return {f.rel for f, _ in keep}


def _unique_ids(retriever: Retriever, batch: list[tuple[SourceFile, list[Item]]],
                summary: BuildSummary) -> list[tuple[SourceFile, list[Item]]]:
    """Leave out items whose id is taken: by another source in the index, or earlier in
    this batch. The first holder keeps the id; the collision is a note, never a silent loss."""
    ids = [str(item.stable_id()) for _, group in batch for item in group]
    owners = {d.id: d.source for d in retriever.store.get_many(ids, skip_missing=True)
              if d is not None}
    out = []
    for f, group in batch:
        kept = []
        for item in group:
            doc_id = str(item.stable_id())
            owner = owners.get(doc_id)
            if owner is not None and owner != f.rel:
                if f.rel not in summary.collided:
                    summary.collided.append(f.rel)
                summary.notes.append((f.rel, f"id {doc_id!r} is already used by {owner}; "
                                             "this document was skipped (ids must be unique "
                                             "across the corpus)"))
                continue
            owners[doc_id] = f.rel
            kept.append(item)
        out.append((f, kept))
    return out


def _prepare(retriever: Retriever, entries: list[tuple[SourceFile, Item]],
             summary: BuildSummary) -> list[tuple[SourceFile, PreparedItem]]:
    """Each item hashed and chunked; one that cannot be hashed is left out with a note."""
    prepared = []
    for f, item in entries:
        try:
            prepared.append((f, retriever.prepare(item)))
        except Exception as exc:  # an image that changed or vanished since it was read
            summary.notes.append((f.rel, f"document {item.stable_id()} skipped: {exc}"))
    return prepared


def _embed(retriever: Retriever, entries: list[tuple[SourceFile, PreparedItem]],
           options: BuildOptions, summary: BuildSummary) -> None:
    """Set each item's vectors (a chunked item has several rows); an item that fails keeps
    ``None``, with a note.

    The batch is embedded at once; if that fails, item by item, so that one bad image or an
    encoder error on one document costs that document only.
    """
    items = [p for _, p in entries]
    try:
        vectors = retriever.encode_for_add(items, batch_size=options.batch_size)
    except Exception:
        logger.debug("embedding a batch failed; retrying item by item", exc_info=True)
    else:
        offset = 0
        for p in items:
            p.vectors = vectors[offset:offset + len(p.pieces)]
            offset += len(p.pieces)
        return
    for f, p in entries:
        try:
            p.vectors = retriever.encode_for_add([p], batch_size=options.batch_size)
        except Exception as exc:  # reported per document; the build goes on
            summary.notes.append((f.rel, f"document {p.item.stable_id()} could not be embedded "
                                         f"and was skipped: {type(exc).__name__}: {exc}"))
