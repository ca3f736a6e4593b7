"""How the HTTP app is served."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServerSettings"]


@dataclass
class ServerSettings:
    """How the app is served: ``host`` for MCP's DNS-rebinding guard, the API key (None: no
    key needed), whether to serve MCP at ``/mcp``, and the index name shown on the page."""

    host: str = "127.0.0.1"
    api_key: str | None = None
    mcp: bool = True
    index_name: str = "index"
