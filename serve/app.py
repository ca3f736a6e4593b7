"""The HTTP app (FastAPI): the routes of :mod:`nyx.serve.routes`, API-key and body-size
middleware, JSON errors, and MCP's streamable HTTP transport at ``/mcp``.

Every endpoint calls the same :class:`~nyx.ensemble.tools.SearchTool` the MCP server and
function calling use, so limits and errors agree everywhere. The API never changes the index.
With an API key, every path but the page, ``/health`` and ``/openapi.json`` needs it.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from nyx.ensemble.tools import MAX_IMAGE_BYTES, SearchTool, ToolCallError
from nyx.serve.routes import router, version
from nyx.serve.security import ApiKeyMiddleware, BodyLimitMiddleware, HostCheckMiddleware
from nyx.serve.settings import ServerSettings

logger = logging.getLogger(__name__)

__all__ = ["ServerSettings", "create_app", "media_url"]

PUBLIC_PATHS = ("/", "/page.js", "/page.css", "/health", "/openapi.json", "/favicon.ico")
#: JSON bodies may carry a base64 image (4/3 of the upload limit) plus a little JSON.
MAX_BODY_BYTES = MAX_IMAGE_BYTES * 4 // 3 + 2**20
STATUS = {"invalid_arguments": 422, "invalid_image": 422, "unknown_tool": 404,
          "not_found": 404, "not_configured": 501, "too_large": 413, "unsupported": 400,
          "unavailable": 503, "internal_error": 500}

def media_url(doc_id: str, n: int) -> str:
    """The URL path of a document's n-th image."""
    from urllib.parse import quote

    return f"/media/{n}/{quote(doc_id, safe='/')}"


def create_app(tool: SearchTool | None, settings: ServerSettings | None = None) -> FastAPI:
    """The HTTP app over ``tool`` (None builds the routes only, e.g. for the OpenAPI spec)."""
    settings = settings or ServerSettings()
    mcp_server = None
    if tool is not None and settings.mcp:
        from nyx.serve.mcp_server import create_mcp_server

        mcp_server = create_mcp_server(tool)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        async with AsyncExitStack() as stack:
            if mcp_server is not None:
                await stack.enter_async_context(mcp_server.session_manager.run())
            yield

    app = FastAPI(title="Nyx", description=__doc__, version=version(), lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.tool = tool
    if mcp_server is not None:
        routes = mcp_server.streamable_http_app(streamable_http_path="/mcp",
                                                host=settings.host).routes
        app.router.routes.extend(routes)
    app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key, public_paths=PUBLIC_PATHS)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES, skip_paths=("/mcp",))
    app.add_middleware(HostCheckMiddleware, bound_host=settings.host)  # outermost: runs first
    _add_error_handlers(app)
    app.state.settings = settings
    app.include_router(router)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ToolCallError)
    async def tool_error(request: Request, error: ToolCallError) -> JSONResponse:
        return JSONResponse(error.to_dict(), status_code=STATUS.get(error.code, 400))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_describe(e) for e in error.errors()]
        return JSONResponse({"error": "invalid request: " + "; ".join(problems),
                             "code": "invalid_arguments", "details": problems}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail), "code": f"http_{error.status_code}"},
                            error.status_code, headers=error.headers)


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
    if error.get("type") == "extra_forbidden":
        return f"unknown field {where!r}"
    return f"{where or 'body'}: {error.get('msg', 'invalid')}"
