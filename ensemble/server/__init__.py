"""The agent-facing surface of Nyx: an HTTP API with a search page, an MCP server, and tool
retrieval over catalogues of tool descriptions. All of them run one
:class:`~nyx.ensemble.tools.SearchTool`.

Start one with ``nyx-index serve INDEX_DIR`` (HTTP, page and MCP at ``/mcp``) or
``nyx-index serve INDEX_DIR --mcp`` (MCP over stdio); see :mod:`nyx.ensemble.cli`.
FastAPI, uvicorn and the MCP SDK are imported only by the modules that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ServerSettings", "ToolCatalog", "ToolDescription", "create_app",
           "create_mcp_server", "load_tool_source", "run_http", "run_stdio"]

_HOMES = {"ServerSettings": "http", "create_app": "http", "ToolCatalog": "catalog",
          "load_tool_source": "catalog", "ToolDescription": "catalog_formats",
          "create_mcp_server": "mcp_server", "run_http": "mcp_server", "run_stdio": "mcp_server"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'nyx.ensemble.server' has no attribute {name!r}")
    return getattr(importlib.import_module(f"nyx.ensemble.server.{_HOMES[name]}"), name)
