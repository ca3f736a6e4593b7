"""Index builds whose embedding runs on a Ray cluster (``nyx-index build CORPUS --ray``).

The corpus's new and changed files are read as a Ray Dataset, parsed in Ray tasks and embedded
by a pool of encoder actors (CPU or GPU: ``num_gpus`` per actor). Each actor writes what it
embeds as shards of the index's embedding cache, keyed by content hash exactly as the local
builder keys them, under its own shard names. The single writer (:func:`nyx.builder.build_index`)
then runs as usual: it finds every vector in the cache, embeds only what is missing (nothing,
unless a shard was lost) and commits the generation. A killed actor is restarted by Ray and its
batch re-run; a killed build resumes from the shards already written, on Ray or locally.

The corpus folder and the index folder must be on storage every Ray node can read and write
(NFS, a shared volume); items travel between nodes as paths, not bytes.

Ray is optional: ``pip install 'nyx-retrieval[ray]'``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nyx.builder import (
    CACHE_DIR,
    BuildOptions,
    BuildSummary,
    build_index,
    cache_key,
    reading_options,
)
from nyx.chunking import embedding_pieces
from nyx.content import Item
from nyx.corpus import ReadOptions, ScanResult, SourceError, SourceFile, scan_corpus
from nyx.embedding_cache import EmbeddingCache, cached_keys
from nyx.encoders import DEFAULT_ENCODER, Encoder
from nyx.indexes import IndexDirectory, Manifest
from nyx.persistence import RETRIEVER_FILE
from nyx.readers import parse_source

logger = logging.getLogger(__name__)

__all__ = ["RayOptions", "build_index_ray"]


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "building on Ray needs Ray Data: pip install 'nyx-retrieval[ray]'"
        ) from exc
    return ray


@dataclass
class RayOptions:
    """Where and how the encoder actors run."""

    #: a running cluster ("auto", "ray://head:10001", "10.0.0.1:6379"); ``None`` connects to
    #: the cluster in RAY_ADDRESS if set, else starts a local Ray for this build only.
    address: str | None = None
    #: encoder actors (one model copy each)
    workers: int = 1
    num_cpus: float = 1.0
    #: CPUs per parsing task (reading files is light; leave room beside the actors)
    parse_cpus: float = 0.25
    #: GPUs per actor (0: CPU; 1: one GPU each; 0.5: two actors share a GPU)
    num_gpus: float = 0.0
    #: items per encoder call on one device; ``None``: the build's ``batch_size``
    batch_size: int | None = None
    #: extra ``ray.init`` arguments for a local Ray (e.g. ``{"num_cpus": 2}``)
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    #: leave a Ray that this build started running (tests and benchmarks reuse it)
    keep_running: bool = False


def build_index_ray(corpus: str | Path, output: str | Path,
                    options: BuildOptions | None = None,
                    ray_options: RayOptions | None = None) -> BuildSummary:
    """Build or update the index at ``output`` like :func:`nyx.builder.build_index`, with the
    embedding done by Ray encoder actors. Returns the same summary as the local build."""
    ray = _ray()
    options = options or BuildOptions()
    ray_options = ray_options or RayOptions()
    start = time.perf_counter()
    root = Path(corpus).resolve()
    out = Path(output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    directory = IndexDirectory(out)
    spec, spec_options = _encoder_spec(directory, options.model)
    started = False
    if not ray.is_initialized():
        address = ray_options.address or os.environ.get("RAY_ADDRESS")
        init_args = {"include_dashboard": False, "log_to_driver": False,
                     **({"address": address} if address else
                        {"address": "local", **ray_options.init_kwargs})}
        ray.init(**init_args)
        started = True
    try:
        with directory.lock():
            scan, files = _files_to_embed(root, out, directory, options)
            embedded = _embed_on_ray(ray, files, root, out, spec, spec_options, options,
                                     ray_options)
    finally:
        if started and not ray_options.keep_running:
            ray.shutdown()
    ray_seconds = time.perf_counter() - start
    summary = build_index(root, out, options, scan=scan)  # the writer scans and hashes no more
    # The actors' work counts as embedded by this build, not as reused from an earlier one.
    moved = min(embedded, summary.reused_from_cache)
    summary.embedded += moved
    summary.reused_from_cache -= moved
    summary.seconds += ray_seconds
    logger.info("Ray embedded %d items of %d files in %.1f s; commit took %.1f s", embedded,
                len(files), ray_seconds, summary.seconds - ray_seconds)
    return summary


def _encoder_spec(directory: IndexDirectory,
                  model: str | Encoder | None) -> tuple[str, dict[str, Any]]:
    """The encoder name and options each actor loads: the one asked for, else the index's."""
    if isinstance(model, Encoder):
        if model.spec is None:
            raise ValueError(f"encoder {model.name!r} was not made by load_encoder, so Ray "
                             "actors cannot rebuild it; pass its name (e.g. 'nyx-lite')")
        return model.rebuild_spec()
    if model:
        return str(model), {}
    current = directory.current()
    if current is not None:
        settings = json.loads((current / RETRIEVER_FILE).read_text())
        options = dict(settings.get("encoder_options", {}))
        if options.get("text_adapter"):  # actors read the adapter where the index keeps it
            from nyx.encoders.text_adapter import adapter_relpath

            options["text_adapter"] = str(current / adapter_relpath(options["text_adapter"]))
        return settings["encoder"], options
    return DEFAULT_ENCODER, {}


def _files_to_embed(root: Path, out: Path, directory: IndexDirectory,
                    options: BuildOptions) -> tuple[ScanResult, list[SourceFile]]:
    """The corpus's scan, for the writer, and its new and changed files (the ones the builder
    will embed), inside the corpus only. Like the builder, it hashes only the files the index
    holds; a new file is hashed where the writer reads it."""
    current = directory.current()
    manifest = Manifest.load(current) if current is not None else None
    reading = reading_options(options, ReadOptions.from_dict(manifest.reading if manifest
                                                             else None))
    scan = scan_corpus(root, allow_hardlinks=options.allow_hardlinks, reading=reading)
    old = manifest.sources if manifest is not None else {}
    files = [f for f in scan.files if out not in f.path.resolve().parents]
    for f in files:
        if f.rel in old:
            f.compute_hash()
    return scan, [f for f in files if old.get(f.rel) != f.content_hash]


def _embed_on_ray(ray: Any, files: list[SourceFile], root: Path, out: Path, spec: str,
                  spec_options: dict[str, Any], options: BuildOptions,
                  ray_options: RayOptions) -> int:
    """Embed every item of ``files`` that the cache lacks; returns how many were embedded."""
    if not files:
        return 0
    folder = out / CACHE_DIR
    done = cached_keys(folder)
    rows = [{"rel": f.rel, "path": str(f.path), "kind": f.kind, "size": f.size,
             "mtime": f.mtime, "hash": f.content_hash, "dev": (f.identity or (0, 0))[0],
             "ino": (f.identity or (0, 0))[1]} for f in files]
    workers = max(1, ray_options.workers)
    blocks = max(1, min(len(rows), workers * 4))
    dataset = ray.data.from_items(rows, override_num_blocks=blocks)
    dataset = dataset.flat_map(_parse_file, fn_kwargs={"root": str(root),
                                                       "max_words": options.max_words},
                               num_cpus=ray_options.parse_cpus)
    dataset = dataset.map_batches(
        _EncodeActor,
        fn_constructor_kwargs={
            "spec": spec, "spec_options": spec_options, "cache_folder": str(folder),
            "skip": done, "max_words": options.max_words,
            "batch_size": ray_options.batch_size or options.batch_size,
            "device": "cuda" if ray_options.num_gpus > 0 else None,
        },
        batch_size=options.shard_size, compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=ray_options.num_cpus,
        num_gpus=ray_options.num_gpus or None, batch_format="numpy",
    )
    keys: set[str] = set()
    nodes: set[str] = set()
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        keys.update(batch["embedded"].tolist())
        nodes.update(batch["node"].tolist())
    keys.discard("")
    logger.info("Ray embedded %d items on %d node(s)", len(keys), len(nodes))
    return len(keys)


def _parse_file(row: dict[str, Any], root: str, max_words: int) -> Iterator[dict[str, str]]:
    """Ray task body: one corpus file into its items (as JSON), the same items the builder
    parses; a file that cannot be parsed yields nothing (the builder reports it)."""
    src = SourceFile(row["rel"], Path(row["path"]), row["kind"], int(row["size"]),
                     float(row["mtime"]), row["hash"], root=Path(root),
                     identity=(int(row["dev"]), int(row["ino"])) if row["ino"] else None)
    try:
        parsed = parse_source(src, Path(root), max_words)
    except (SourceError, OSError):
        return
    for item in parsed.items:
        yield {"item": json.dumps(item.to_dict())}


class _EncodeActor:
    """Ray actor: loads the encoder once, embeds batches of items and writes each batch as one
    shard of the embedding cache (atomically, under a name no other actor uses)."""

    def __init__(self, spec: str, spec_options: dict[str, Any], cache_folder: str,
                 skip: set[str], max_words: int, batch_size: int, device: str | None) -> None:
        import ray

        from nyx.encoders import load_encoder

        self.encoder = load_encoder(spec, device=device, **spec_options)
        context = ray.get_runtime_context()
        self.node = context.get_node_id()
        writer = f"{self.node[:8]}-{os.getpid()}-{context.get_actor_id()[-8:]}"
        self.cache = EmbeddingCache(cache_folder, self.encoder.version, writer=writer,
                                    load=False)
        self.skip = skip
        self.max_words = max_words
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [Item.from_dict(json.loads(text)) for text in batch["item"].tolist()]
        keys = [cache_key(self.cache, item.content_hash(), self.max_words) for item in items]
        todo: dict[str, Item] = {}
        for key, item in zip(keys, items):
            if key not in self.skip and key not in todo:
                todo[key] = item
        if todo:
            pieces = [embedding_pieces(item, self.max_words) for item in todo.values()]
            vectors = self.encoder.encode_documents([p for group in pieces for p in group],
                                                    batch_size=self.batch_size)
            entries, offset = [], 0
            for key, group in zip(todo, pieces):
                entries.append((key, vectors[offset:offset + len(group)]))
                offset += len(group)
            self.cache.put_many(entries)
        return {"embedded": np.array([k if k in todo else "" for k in keys]),
                "node": np.array([self.node] * len(keys))}
