"""Serving an index to people, programs and agents: an HTTP API with a search page, an MCP
server, and tool retrieval over catalogues of tool descriptions. All of them run one
:class:`~nyx.ensemble.tools.SearchTool`.

Start one with ``nyx-index serve INDEX_DIR`` (HTTP, page and MCP at ``/mcp``) or
``nyx-index serve INDEX_DIR --mcp`` (MCP over stdio); from Python,
:func:`~nyx.serve.runner.run_server`. FastAPI, uvicorn and the MCP SDK are imported only by
the modules that need them.
"""

from __future__ import annotations

from nyx.indexes.lazy import lazy_exports

__all__ = ["ServerSettings", "ToolCatalog", "ToolDescription", "build_tool", "create_app",
           "create_mcp_server", "load_tool_source", "run_http", "run_server", "run_stdio"]

_HOMES = {"ServerSettings": "settings", "create_app": "app", "ToolCatalog": "catalog",
          "load_tool_source": "catalog", "ToolDescription": "catalog_formats",
          "create_mcp_server": "mcp_server", "run_http": "mcp_server", "run_stdio": "mcp_server",
          "build_tool": "runner", "run_server": "runner"}


__getattr__, __dir__ = lazy_exports(
    "nyx.serve", {name: f"nyx.serve.{home}" for name, home in _HOMES.items()}, globals())
