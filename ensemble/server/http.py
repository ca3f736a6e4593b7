"""The HTTP API (FastAPI): search, answer, documents, media, tool search, and the search page.

Every endpoint calls the same :class:`~nyx.ensemble.tools.SearchTool` the MCP server and function
calling use, so limits and errors agree everywhere. The API never changes the index. With an
API key, every path but the page, ``/health`` and ``/openapi.json`` needs it. MCP's
streamable HTTP transport is served at ``/mcp`` by the same app.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from nyx.ensemble.server.page import PAGE_CSP, PAGE_CSS, PAGE_HTML, PAGE_JS
from nyx.ensemble.server.security import ApiKeyMiddleware, BodyLimitMiddleware
from nyx.ensemble.tools import (
    MAX_IMAGE_BYTES,
    MAX_K,
    MAX_QUERY_CHARS,
    SearchTool,
    ToolCallError,
    tool_definitions,
)

logger = logging.getLogger(__name__)

__all__ = ["ServerSettings", "create_app", "media_url"]

PUBLIC_PATHS = ("/", "/page.js", "/page.css", "/health", "/openapi.json", "/favicon.ico")
#: JSON bodies may carry a base64 image (4/3 of the upload limit) plus a little JSON.
MAX_BODY_BYTES = MAX_IMAGE_BYTES * 4 // 3 + 2**20
STATUS = {"invalid_arguments": 422, "invalid_image": 422, "unknown_tool": 404,
          "not_found": 404, "not_configured": 501, "too_large": 413, "unsupported": 400,
          "unavailable": 503, "internal_error": 500}
Modality = Literal["any", "text", "image"]
Mode = Literal["auto", "dense", "lexical", "hybrid"]
Group = Literal["document", "chunk"]


class _SearchOptions(BaseModel):
    """Per-request search options shared by the JSON, query-string and multipart forms."""

    mode: Mode = Field("auto", description="auto (the server's setting), dense, lexical or "
                       "hybrid")
    group: Group = Field("document", description="document: each file once, by its best "
                         "passage; chunk: every passage")
    min_score: float | None = Field(None, description="drop hits scoring below this")

    def options(self) -> dict[str, Any]:
        return {"mode": self.mode, "group": self.group, "min_score": self.min_score}


@dataclass
class ServerSettings:
    """How the app is served: ``host`` for MCP's DNS-rebinding guard, the API key (None: no
    key needed), whether to serve MCP at ``/mcp``, and the index name shown on the page."""

    host: str = "127.0.0.1"
    api_key: str | None = None
    mcp: bool = True
    index_name: str = "index"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SearchRequest(_Strict, _SearchOptions):
    query: str = Field("", max_length=MAX_QUERY_CHARS, description="query text")
    k: int = Field(5, ge=1, le=MAX_K)
    modality: Modality = "any"
    filter: dict[str, Any] | None = Field(None, description='e.g. {"topic": "shop"}')
    image: str | None = Field(None, max_length=MAX_IMAGE_BYTES * 4 // 3 + 4,
                              description="base64-encoded query image")


class SearchParams(_SearchOptions):
    model_config = ConfigDict(extra="forbid")
    q: str = Field("", max_length=MAX_QUERY_CHARS, description="query text")
    k: int = Field(5, ge=1, le=MAX_K)
    modality: Modality = "any"
    filter: str | None = Field(None, max_length=MAX_QUERY_CHARS,
                               description='metadata filter as JSON, e.g. {"topic": "shop"}')


class SearchForm(_SearchOptions):
    """The text fields of a multipart image search (the file goes in ``image``)."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field("", max_length=MAX_QUERY_CHARS)
    k: int = Field(5, ge=1, le=MAX_K)
    modality: Modality = "any"
    filter: str | None = Field(None, max_length=MAX_QUERY_CHARS)


class AnswerRequest(_Strict):
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)


class ToolSearchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="the task, in words")
    k: int = Field(5, ge=1, le=MAX_K)


class ToolCallRequest(BaseModel):
    """A model's tool call: ``{"name", "arguments"}`` or ``{"id", "type", "function"}``."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    type: Literal["function"] | None = None
    function: dict[str, Any] | None = None
    name: str | None = None
    arguments: str | dict[str, Any] | None = None


_MULTIPART_DOC = {"requestBody": {"content": {
    "application/json": {"schema": SearchRequest.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        **SearchForm.model_json_schema()["properties"],
        "image": {"type": "string", "format": "binary"}}}}}}}


_ERROR_BODY = {"application/json": {"schema": {"type": "object", "properties": {
    "error": {"type": "string"}, "code": {"type": "string"}}}}}
#: Documented so that clients (and schemathesis) know every status the API answers with.
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such document or image", "content": _ERROR_BODY},
    413: {"description": "request body too large", "content": _ERROR_BODY},
    422: {"description": "invalid arguments, with the reason", "content": _ERROR_BODY}}


def media_url(doc_id: str, n: int) -> str:
    """The URL path of a document's n-th image."""
    from urllib.parse import quote

    return f"/media/{n}/{quote(doc_id, safe='/')}"


def create_app(tool: SearchTool | None, settings: ServerSettings | None = None) -> FastAPI:
    """The HTTP app over ``tool`` (None builds the routes only, e.g. for the OpenAPI spec)."""
    settings = settings or ServerSettings()
    mcp_server = None
    if tool is not None and settings.mcp:
        from nyx.ensemble.server.mcp_server import create_mcp_server

        mcp_server = create_mcp_server(tool)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        async with AsyncExitStack() as stack:
            if mcp_server is not None:
                await stack.enter_async_context(mcp_server.session_manager.run())
            yield

    app = FastAPI(title="Nyx", description=__doc__, version=_version(), lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.tool = tool
    if mcp_server is not None:
        routes = mcp_server.streamable_http_app(streamable_http_path="/mcp",
                                                host=settings.host).routes
        app.router.routes.extend(routes)
    app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key, public_paths=PUBLIC_PATHS)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES, skip_paths=("/mcp",))
    _add_error_handlers(app)
    _add_routes(app, settings)
    return app


def _tool(request: Request) -> SearchTool:
    tool: SearchTool | None = request.app.state.tool
    if tool is None:
        raise ToolCallError("no index is loaded in this app", "unavailable")
    return tool


def _filter(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ToolCallError(f'filter is not valid JSON ({error}); e.g. {{"topic": "shop"}}'
                            ) from error
    except RecursionError:
        raise ToolCallError("filter is JSON nested too deeply to read") from None
    if not isinstance(value, dict):
        raise ToolCallError('filter must be a JSON object such as {"topic": "shop"}')
    return value


def _add_routes(app: FastAPI, settings: ServerSettings) -> None:
    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return Response(PAGE_HTML, media_type="text/html", headers=_page_headers())

    @app.get("/page.js", include_in_schema=False)
    def page_js() -> Response:
        return Response(PAGE_JS, media_type="text/javascript", headers=_page_headers())

    @app.get("/page.css", include_in_schema=False)
    def page_css() -> Response:
        return Response(PAGE_CSS, media_type="text/css", headers=_page_headers())

    @app.get("/health", operation_id="nyx_health",
             summary="Server status: documents, tools, whether a key is needed")
    def health(request: Request) -> dict[str, Any]:
        tool: SearchTool | None = request.app.state.tool
        return {"status": "ok" if tool is not None else "no index",
                "index": settings.index_name, "documents": _count(tool),
                "tools": tool.catalog.count() if tool and tool.catalog else 0,
                "answer": bool(tool and tool.answerer), "mcp": settings.mcp,
                "auth_required": settings.api_key is not None, "version": _version()}

    @app.get("/search", operation_id="nyx_search", summary="Search with text (query parameters)",
             responses=_ERRORS)
    def search_get(request: Request, params: Annotated[SearchParams, Query()]
                   ) -> dict[str, Any]:
        return _tool(request).search(params.q, params.k, params.modality,
                                     _filter(params.filter), **params.options())

    @app.post("/search", operation_id="nyx_search_post",
              summary="Search with JSON, or with an uploaded image (multipart)",
              openapi_extra=_MULTIPART_DOC, responses=_ERRORS)
    async def search_post(request: Request) -> dict[str, Any]:
        tool = _tool(request)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=8)
            upload = form.get("image")
            fields = {k: v for k, v in form.items() if k != "image"}
            params = _validated(SearchForm, fields)
            data = await upload.read() if upload is not None and not isinstance(upload, str) \
                else None
            if data is None and not params.query.strip():
                raise ToolCallError("send query text, an image file in the 'image' field, "
                                    "or both")
            return await run_in_threadpool(partial(
                tool.search, params.query, params.k, params.modality, _filter(params.filter),
                data or None, **params.options()))
        body = _validated(SearchRequest, await _json(request))
        return await run_in_threadpool(partial(tool.search, body.query, body.k, body.modality,
                                               body.filter, body.image, **body.options()))

    @app.post("/answer", operation_id="nyx_answer",
              summary="Answer a question with the configured pipeline/ensemble")
    def answer(request: Request, body: AnswerRequest) -> dict[str, Any]:
        return _tool(request).answer(body.question)

    @app.get("/documents/{doc_id:path}", operation_id="nyx_get_document", responses=_ERRORS,
             summary="One document: text, images, metadata")
    def document(request: Request, doc_id: str) -> dict[str, Any]:
        return _tool(request).fetch_document(doc_id)

    @app.get("/media/{n}/{doc_id:path}", operation_id="nyx_get_media",
             summary="The n-th image of an indexed document",
             responses={200: {"content": {"image/*": {}}}, **_ERRORS})
    def media(request: Request, n: int, doc_id: str) -> Response:
        from nyx.images import is_image_path
        from nyx.paths import PathRefused, open_regular

        path = _tool(request).media_file(doc_id, n)
        kind = mimetypes.guess_type(path.name)[0]
        # Only raster images stored inside the index: no SVG (scripts), no other files.
        if not kind or not is_image_path(path):
            raise ToolCallError(f"document {doc_id!r} has no image {n}", "not_found")
        try:
            with open_regular(path) as f:
                data = f.read()
        except PathRefused as error:
            raise ToolCallError(f"document {doc_id!r} has no image {n}", "not_found") from error
        return Response(data, media_type=kind, headers={
            "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox"})

    @app.get("/tools", operation_id="nyx_list_tools",
             summary="The tools in OpenAI function-calling format")
    def tools(request: Request) -> dict[str, Any]:
        tool: SearchTool | None = request.app.state.tool
        return {"tools": tool.tool_schemas() if tool else tool_definitions()}

    @app.get("/tools/search", operation_id="nyx_search_tools",
             summary="Find catalogue tools for a task (tool retrieval)")
    def search_tools(request: Request, params: Annotated[ToolSearchParams, Query()]
                     ) -> dict[str, Any]:
        return _tool(request).search_tools(params.q, params.k)

    @app.post("/tools/call", operation_id="nyx_call_tool",
              summary="Execute a model's tool call; errors come back inside")
    def call_tool(request: Request, body: ToolCallRequest) -> dict[str, Any]:
        return _tool(request).dispatch(body.model_dump(exclude_none=True))


async def _json(request: Request) -> Any:
    kind = request.headers.get("content-type", "")
    if not kind.startswith("application/json"):
        raise ToolCallError(f"send JSON (Content-Type: application/json) or a multipart form "
                            f"with an image, not {kind or 'no content type'!r}")
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ToolCallError(f"the body is not valid JSON: {error}") from error
    except RecursionError:
        raise ToolCallError("the body is JSON nested too deeply to read") from None


def _validated(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from error


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


def _page_headers() -> dict[str, str]:
    return {"Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


def _count(tool: SearchTool | None) -> int:
    if tool is None:
        return 0
    backend = tool.retriever.load() if hasattr(tool.retriever, "load") else None
    return int(backend.count()) if backend is not None and hasattr(backend, "count") else 0


def _version() -> str:
    from nyx import __version__

    return __version__
