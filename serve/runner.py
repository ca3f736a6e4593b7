"""Running a server: the search tool over an index, then HTTP (with the page and MCP at
``/mcp``) or MCP alone. ``nyx-index serve`` (:mod:`nyx.serve.cli`) parses the arguments."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from nyx.ensemble.tools import SearchTool

logger = logging.getLogger(__name__)

__all__ = ["build_tool", "run_server"]


def build_tool(index: Path, *, pipeline: Path | None = None,
               tools: list[str] | None = None, mode: str = "auto",
               media_urls: bool = True, rerank_tools: bool = False,
               trust_remote: bool = False,
               cli_parser: argparse.ArgumentParser | None = None) -> SearchTool:
    """A :class:`~nyx.ensemble.tools.SearchTool` over a saved index, with an optional answering
    pipeline and tool catalogue (the catalogue shares the index's encoder). ``cli_parser``
    (``nyx-index``'s) lets the ``nyx`` catalogue describe the command line too."""
    from nyx import Retriever
    from nyx.ensemble.retrievers.nyx_retriever import NyxRetriever
    from nyx.serve.app import media_url
    from nyx.serve.catalog import ToolCatalog

    retriever = Retriever.load(index, trust_remote=trust_remote)
    module = NyxRetriever(retriever=retriever, mode=mode).follow_index(index)
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
    catalog = (ToolCatalog.from_sources(sources, encoder=retriever.encoder, reranker=reranker,
                                          cli_parser=cli_parser)
               if sources else None)
    if catalog is not None:
        logger.info("tool catalogue: %d tools from %s", catalog.count(), ", ".join(sources))
    return SearchTool(module, answerer=answerer, catalog=catalog,
                      media_url=media_url if media_urls else None)


def run_server(index: Path, *, host: str = "127.0.0.1", port: int = 8000,
               api_key: str | None = None, mcp_only: bool = False, transport: str = "stdio",
               pipeline: Path | None = None, tools: list[str] | None = None, mode: str = "auto",
               rerank_tools: bool = False, trust_remote: bool = False, threads: int = 1,
               cli_parser: argparse.ArgumentParser | None = None) -> int:
    """Serve ``index`` until interrupted: HTTP API, search page and MCP at ``/mcp``, or MCP
    alone (``mcp_only``, over ``transport``). ``api_key`` None: ``$NYX_API_KEY``, else none."""
    from nyx.serve.security import resolve_api_key

    _check_dependencies(mcp_only)
    if not (mcp_only and transport == "stdio"):
        check_port_free(host, port)  # before loading anything or printing a URL
    import torch

    torch.set_num_threads(max(1, threads))
    logging.getLogger("nyx.serve").setLevel(logging.INFO)
    api_key = resolve_api_key(api_key)
    if not index.is_dir():
        raise FileNotFoundError(f"no index folder at {index}; build one with "
                                "`nyx-index build CORPUS -o INDEX_DIR`")
    if host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        logger.warning("serving on %s without an API key: anyone who can reach this address "
                       "can search the index; pass --api-key or set NYX_API_KEY", host)
    stdio = mcp_only and transport == "stdio"
    tool = build_tool(index, pipeline=pipeline, tools=tools, mode=mode,
                      trust_remote=trust_remote, media_urls=not mcp_only,
                      rerank_tools=rerank_tools, cli_parser=cli_parser)
    if mcp_only:
        from nyx.serve.mcp_server import create_mcp_server, run_http, run_stdio

        server = create_mcp_server(tool)
        if stdio:
            run_stdio(server)
        else:
            run_http(server, host=host, port=port, api_key=api_key)
        return 0
    import uvicorn

    from nyx.running_server import announce
    from nyx.serve.app import ServerSettings, create_app

    settings = ServerSettings(host=host, api_key=api_key, index_name=index.resolve().name)
    logger.info("Nyx on http://%s:%d/ (API: /openapi.json, MCP: /mcp)", host, port)
    address = f"[{host}]" if ":" in host else host
    # uvicorn re-raises SIGTERM after its shutdown; exiting through Python lets the note go
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    # nyx-index search on this index asks this server instead of loading the models again
    with announce(index, f"http://{address}:{port}", auth=api_key is not None):
        uvicorn.run(create_app(tool, settings), host=host, port=port,
                    log_level="warning", access_log=False)
    return 0


def check_port_free(host: str, port: int) -> None:
    """Refuse, in one line, a port something else already listens on (or the system will not
    give): before the models load, so the user is not told a URL that will not answer."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (another "
                             "server is using it?); stop it or choose another with --port N"
                             ) from None


def _check_dependencies(mcp_only: bool) -> None:
    import importlib.util

    needed = ["mcp"] if mcp_only else ["fastapi", "uvicorn", "multipart", "mcp"]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"serving needs {', '.join(missing)}: pip install "
                          "'nyx-retrieval[serve]' (fastapi, uvicorn, python-multipart, mcp)")
