"""``nyx-index``: build, search, inspect and verify indexes from the command line."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nyx.cli.options import add_search_options
from nyx.encoders.spec import SPEC_FORMS
from nyx.indexes import EncoderMismatchError, Filter, IndexLockedError, StaleIndexError
from nyx.relevance import DEFAULT_MIN_RELEVANCE

if TYPE_CHECKING:
    from nyx.results import SearchResult

logger = logging.getLogger("nyx.cli")


#: the commands defined here; any other comes from a ``nyx.cli`` entry point
BUILTIN_COMMANDS = ("build", "search", "info", "verify")


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    """The ``nyx-index`` parser; ``plugins=False`` leaves out the commands of other packages
    (finding them reads every installed package's metadata)."""
    parser = argparse.ArgumentParser(prog="nyx-index", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--version", action="version", version=f"nyx-index {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="build or update an index from a folder")
    build.add_argument("corpus", type=Path, help="folder of text, markdown, HTML, PDF, "
                       "source code, .jsonl/.json records and images (README: formats)")
    build.add_argument("-o", "--output", type=Path, help="index folder (default CORPUS.nyx)")
    build.add_argument("--model", help="encoder (nyx-lite for new indexes): "
                       + ", ".join(SPEC_FORMS))
    build.add_argument("--backend", choices=["faiss", "qdrant"],
                       help="vector index of a new index (default faiss); an existing index "
                            "keeps its own")
    build.add_argument("--qdrant-url", help="Qdrant server/cluster URL (default: local folder)")
    build.add_argument("--qdrant-api-key")
    build.add_argument("--batch-size", type=int, default=32)
    build.add_argument("--shard-size", type=int, default=64,
                       help="documents per embedding shard written while building")
    build.add_argument("--json", action="store_true", help="print the summary as JSON")
    build.add_argument("--trust-remote", action="store_true",
                       help="let the existing index name a model to download or a server")
    build.add_argument("--include-ext", action="append", default=None, metavar="EXT",
                       help="also read files ending in EXT as plain text (repeat or "
                       "comma-separate: --include-ext .nfo,.me); recorded in the index, so "
                       "later builds keep it; --include-ext '' clears it")
    build.add_argument("--exclude", action="append", default=None, metavar="GLOB",
                       help="do not read what GLOB names: a file or folder name anywhere "
                       "(node_modules, '*.min.js') or a path from the corpus folder "
                       "('docs/old/*'); repeatable, recorded like --include-ext")
    build.add_argument("--allow-hardlinks", action="store_true",
                       help="index files that have other names (hard links); by default they "
                            "are skipped, as another name may lie outside the corpus")
    build.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="embed on a Ray cluster (ADDRESS, e.g. auto or head:6379; none: "
                            "RAY_ADDRESS or a local Ray); needs pip install 'nyx-retrieval[ray]'")
    build.add_argument("--ray-workers", type=int, default=1, help="encoder actors (with --ray)")
    build.add_argument("--ray-cpus", type=float, default=1.0,
                       help="CPUs per encoder actor (with --ray)")
    build.add_argument("--ray-gpus", type=float, default=0.0,
                       help="GPUs per encoder actor (with --ray; 0: CPU)")

    search = sub.add_parser("search", help="search an index")
    search.add_argument("index", type=Path)
    search.add_argument("query", nargs="?", default="", help="query text")
    search.add_argument("--image", type=Path, help="query image (with or without text)")
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--filter", action="append", default=[], metavar="EXPR",
                        help="metadata filter: key=value, key=a|b (any of), key>=3 (also >, "
                        "<, <=), key=prefix* (glob: * and ?), key=\"literal*\"; repeatable or "
                        "';'-separated, all ANDed (grammar: nyx.indexes.filters docstring)")
    add_search_options(search, extra_help={
        "min_score": f"default {DEFAULT_MIN_RELEVANCE} for text queries; 0 shows every hit",
        "rerank": "with the offline ms-marco cross-encoder (alone: 20): better top ranks for "
                  "text questions, ~+0.1-0.3 s"}, const={"rerank": 20})
    search.add_argument("--json", action="store_true",
                        help="print the hits as JSON (full text, scores, metadata)")
    search.add_argument("--no-server", action="store_true",
                        help="load the models here even when `nyx-index serve` runs on this "
                             "index (by default a search asks that server: no model load)")
    search.add_argument("--model", help="query encoder (default: the one that built the index)")
    search.add_argument("--qdrant-url", help="Qdrant server holding the index's vectors")
    search.add_argument("--trust-remote", action="store_true",
                        help="let the index folder name a model to download or a server")

    info = sub.add_parser("info", help="show an index's manifest")
    info.add_argument("index", type=Path)
    verify = sub.add_parser("verify", help="check that manifest, vectors and store agree")
    verify.add_argument("index", type=Path)
    if plugins:
        _add_plugins(sub)
    return parser


def _add_plugins(sub: Any) -> None:
    """Subcommands from installed packages: each ``nyx.cli`` entry point is a function
    ``register(subparsers)`` that adds a subparser with ``set_defaults(handler=...)``.
    (``ensemble`` adds ``serve`` this way, so nyx never imports it.)"""
    from importlib.metadata import entry_points

    for entry in entry_points(group="nyx.cli"):
        if entry.name in sub.choices:  # installed twice (e.g. editable and a test stub)
            continue
        try:
            entry.load()(sub)
        except Exception as exc:  # a broken plugin must not break the built-in commands
            logger.warning("nyx-index: plugin %r (%s) failed to load: %s", entry.name,
                           entry.value, exc)


def _names_builtin_command(argv: list[str]) -> bool:
    """Whether the command line runs a built-in command (its first word that is not an option),
    so the parser need not look for other packages' commands."""
    words = [a for a in argv if not a.startswith("-")]
    return bool(words) and words[0] in BUILTIN_COMMANDS


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(plugins=not _names_builtin_command(argv)).parse_args(argv)
    if args.command != "search":  # a search answered by a server loads no model (see _search)
        _quiet_model_loading()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None) or {
        "build": _build, "search": _search, "info": _info, "verify": _verify}[args.command]
    try:
        try:
            return int(handler(args))
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            corpus = getattr(args, "corpus", None)
            where = (getattr(args, "output", None) or getattr(args, "index", None)
                     or (corpus.with_name(corpus.name + ".nyx") if corpus else "the index"))
            print(f"nyx-index {args.command}: error: no space left on the device holding "
                  f"{printable(str(where))}; free some space and run it again (the live "
                  "generation is unchanged; a build resumes from what it embedded)",
                  file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        # one line, not a traceback: what was interrupted and what is safe
        after = {"build": "; the live generation is unchanged and running the same build again "
                          "resumes from what it embedded"}.get(args.command, "")
        print(f"\nnyx-index {args.command}: interrupted{after}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``nyx-index search ... --json | head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (IndexLockedError, StaleIndexError, EncoderMismatchError, OSError, ImportError,
            ValueError) as exc:
        print(f"nyx-index {args.command}: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:  # a damaged index fails in any library: one line, never a trace
        logger.debug("nyx-index %s failed", args.command, exc_info=True)
        print(f"nyx-index {args.command}: error: {type(exc).__name__}: {printable(str(exc))} "
              "(the index may be damaged: run nyx-index verify; -v shows details)",
              file=sys.stderr)
        return 2


def is_disk_full(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) is a full disk: ENOSPC, or SQLite's 'disk is full'."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "disk is full" in str(error) or "No space left on device" in str(error):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def printable(text: str) -> str:
    """``text`` with control characters escaped, safe to print to a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _version() -> str:
    from nyx import __version__

    return __version__


def _quiet_model_loading() -> None:
    """transformers 5 prints a weight-loading bar per model; a CLI user needs ours only.
    faiss logs which CPU instructions it loaded at INFO: not news to someone searching."""
    logging.getLogger("faiss").setLevel(logging.WARNING)
    # Read where a transformers model is loaded (nyx.encoders.towers): importing transformers
    # here would cost a text query about a second it does not need.
    from nyx.encoders.towers import QUIET_LOADING_ENV

    os.environ.setdefault(QUIET_LOADING_ENV, "1")


def _build(args: argparse.Namespace) -> int:
    from nyx.builder import BuildOptions, build_index

    params: dict[str, Any] = {}
    if args.backend == "qdrant" and args.qdrant_url:
        params = {"url": args.qdrant_url, "api_key": args.qdrant_api_key}
    output = args.output or args.corpus.with_name(args.corpus.name + ".nyx")
    options = BuildOptions(model=args.model, backend=args.backend, backend_params=params,
                           batch_size=args.batch_size, show_progress=not args.json,
                           shard_size=args.shard_size, trust_remote=args.trust_remote,
                           allow_hardlinks=args.allow_hardlinks,
                           include_ext=_listed(args.include_ext),
                           exclude=None if args.exclude is None else tuple(
                               p for p in args.exclude if p.strip()))
    if args.ray is not None:
        from nyx.ray_build import RayOptions, build_index_ray

        ray_options = RayOptions(address=args.ray or None, workers=args.ray_workers,
                                 num_cpus=args.ray_cpus, num_gpus=args.ray_gpus)
        s = build_index_ray(args.corpus, output, options, ray_options)
    else:
        s = build_index(args.corpus, output, options)
    if args.json:
        print(json.dumps(s.to_dict(), indent=2))
        return 0
    print(f"index {s.index} ({s.generation}) from {s.corpus}")
    print(f"  added {len(s.added)}, updated {len(s.updated)}, removed {len(s.removed)}, "
          f"unchanged {s.unchanged}, skipped {len(s.skipped)} file(s)")
    print(f"  {s.documents} documents, {s.vectors} vectors; embedded {s.embedded} "
          f"(reused {s.reused_from_cache} from an interrupted build)")
    print(f"  {s.seconds:.1f} s, peak memory {s.peak_memory_mb:.0f} MB")
    for rel, reason in s.skipped:
        print(f"  skipped {printable(rel)}: {printable(reason)}")
    for rel, note in s.notes:
        print(f"  note {printable(rel)}: {printable(note)}")
    return 0


def _listed(values: list[str] | None) -> tuple[str, ...] | None:
    """Repeated and comma-separated extensions; ``None`` when the option was not given."""
    if values is None:
        return None
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


def _search(args: argparse.Namespace) -> int:
    if not args.query and not args.image:
        raise ValueError("give query text, --image PATH, or both")
    if args.rerank is not None and args.rerank < 1:
        raise ValueError(f"--rerank {args.rerank}: N is how many top hits the cross-encoder "
                         "re-scores and must be at least 1 (leave --rerank out to turn it off)")
    if args.image and not args.image.is_file():
        raise FileNotFoundError(f"query image not found: {args.image}")
    flt = Filter.from_cli(args.filter) if args.filter else None
    default_cut = args.min_score is None and not args.image
    if default_cut:
        args.min_score = DEFAULT_MIN_RELEVANCE
    if not (args.no_server or args.model or args.qdrant_url):
        # a server's answer needs none of the imports below (models, FAISS, NumPy, PIL)
        served = _search_running_server(args, flt)
        if served is not None and args.json:
            print(json.dumps(served, indent=2, ensure_ascii=False))
            return 0
        if served is not None:
            _print_rows(served, default_cut)
            return 0
    _quiet_model_loading()
    from nyx.content import ImagePart, Item
    from nyx.retriever import Retriever

    parts: list[Any] = [args.query] if args.query else []
    if args.image:
        parts.append(ImagePart(str(args.image)))
    index_options = {"url": args.qdrant_url} if args.qdrant_url else None
    retriever = Retriever.load(args.index, args.model, trust_remote=args.trust_remote,
                               index_options=index_options, rerank=args.rerank is not None,
                               rerank_candidates=args.rerank or 20)
    try:
        results = retriever.search(Item(parts), k=args.k, filter=flt, mode=args.mode,
                                   group=args.group, min_score=args.min_score,
                                   modality=args.modality, rerank_scope=args.rerank_scope)
    finally:
        retriever.close()
    rows = [_row(rank, hit) for rank, hit in enumerate(results, 1)]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    _print_rows(rows, default_cut)
    return 0


def _search_running_server(args: argparse.Namespace,
                           flt: Filter | None) -> list[dict[str, Any]] | None:
    """The hits from a `nyx-index serve` already running on this index (models loaded), or
    None when there is none to ask. One request: its rows carry the hits' whole texts."""
    from nyx.results import SearchResult
    from nyx.running_server import locate_server, search_server

    url, why = locate_server(args.index)
    if url is None:
        if why:
            print(f"(not asking a server: {printable(why)}; searching here)", file=sys.stderr)
        return None
    found = search_server(url, {
        "q": args.query, "k": args.k, "mode": args.mode, "group": args.group,
        "min_score": args.min_score, "modality": args.modality, "rerank": args.rerank,
        "rerank_scope": args.rerank_scope,
        "filter": json.dumps(flt.to_dict()) if flt is not None else None,
        "full_text": "true"}, args.image)
    if found is None:
        return None
    print(f"(answered by nyx-index serve at {url}; --no-server to search here)",
          file=sys.stderr)
    return [_row(rank, SearchResult.from_dict(hit)) for rank, hit in enumerate(found, 1)]


def _print_rows(rows: list[dict[str, Any]], default_cut: bool = False) -> None:
    if not rows:
        print("no results" + (f" with relevance {DEFAULT_MIN_RELEVANCE} or more (--min-score 0 "
                              "lists the closest hits anyway)" if default_cut else ""))
    for row in rows:
        snippet = " ".join(row["text"].split())[:90]
        relevance = f"  relevance {row['relevance']:.2f}" if row.get("relevance") is not None \
            else ""
        print(f"{row['rank']:>2}. {row['score']:.3f}{relevance}  {printable(_where(row))}")
        if snippet:
            print(f"      {printable(snippet)}")
        for image in row["images"]:
            print(f"      [image] {printable(image)}")


def _row(rank: int, hit: SearchResult) -> dict[str, Any]:
    """What the command prints of a hit, found here or by a server."""
    row = {"rank": rank, "id": hit.id, "score": round(hit.score, 4),
           "relevance": None if hit.relevance is None else round(hit.relevance, 4),
           "text": hit.text, "images": hit.images, "metadata": hit.metadata}
    if hit.source is not None:
        row.update(source=hit.source, chunk=hit.chunk, matched_chunks=hit.matched_chunks)
    if hit.duplicates:
        row["duplicates"] = hit.duplicates
    if hit.first_stage_score is not None:  # reranked: both judges' scores (None: not re-scored)
        row.update(first_stage_score=round(hit.first_stage_score, 4),
                   rerank_score=None if hit.rerank_score is None else round(hit.rerank_score, 4))
    return row


def _where(row: dict[str, Any]) -> str:
    """``readline.md  (passage 3; 2 more passages matched; same as copy.md)``."""
    if row.get("chunk") is None:
        where, notes = row["id"], []
    else:
        where = row["source"]
        notes = [f"passage {row['chunk'] + 1}"]
        if row["matched_chunks"] > 1:
            more = row["matched_chunks"] - 1
            notes.append(f"{more} more passage{'s' if more > 1 else ''} matched")
    if row.get("duplicates"):
        notes.append("same as " + ", ".join(row["duplicates"]))
    return f"{where}  ({'; '.join(notes)})" if notes else where


def _info(args: argparse.Namespace) -> int:
    from nyx.indexes import IndexDirectory, Manifest

    folder = IndexDirectory(args.index).current()
    if folder is None:
        raise FileNotFoundError(f"no index at {args.index}; build one with nyx-index build")
    manifest = Manifest.load(folder)
    data = manifest.to_dict()
    data["generation"] = folder.name
    data["sources"] = f"{len(manifest.sources)} files"
    print(json.dumps(data, indent=2))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from nyx.verify import verify_index

    report = verify_index(args.index)
    status = "OK" if report.ok else "FAILED"
    labels = {"lexical": "in the BM25 index"}
    counts = ", ".join(f"{n} {labels.get(what, what)}" for what, n in report.checked.items())
    print(f"{status}: {printable(report.index)} ({report.generation})"
          f"{': ' + counts if counts else ''}")
    for problem in report.problems:
        print(f"  - {printable(problem)}")
    for note in report.notes:
        print(f"  note: {printable(note)}")
    return 0 if report.ok else 2


if __name__ == "__main__":
    raise SystemExit(main())
