"""The HTTP API's routes, on one module-level router: search, answer, documents, media, tools,
and the search page. Each calls the app's :class:`~nyx.ensemble.tools.SearchTool`
(``app.state.tool``); how the app is served is ``app.state.settings``."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from nyx.ensemble.tools import SearchTool, ToolCallError, tool_definitions
from nyx.indexes.filters import Filter
from nyx.serve.page import PAGE_CSP, PAGE_CSS, PAGE_HTML, PAGE_JS
from nyx.serve.schemas import (
    ERRORS,
    MULTIPART_DOC,
    AnswerRequest,
    SearchForm,
    SearchParams,
    SearchRequest,
    ToolCallRequest,
    ToolSearchParams,
)
from nyx.serve.settings import ServerSettings

__all__ = ["router"]

router = APIRouter()


@router.get("/", include_in_schema=False)
def page() -> Response:
    return Response(PAGE_HTML, media_type="text/html", headers=_page_headers())

@router.get("/page.js", include_in_schema=False)
def page_js() -> Response:
    return Response(PAGE_JS, media_type="text/javascript", headers=_page_headers())

@router.get("/page.css", include_in_schema=False)
def page_css() -> Response:
    return Response(PAGE_CSS, media_type="text/css", headers=_page_headers())

@router.get("/health", operation_id="nyx_health",
         summary="Server status: documents, tools, whether a key is needed")
def health(request: Request) -> dict[str, Any]:
    settings: ServerSettings = request.app.state.settings
    tool: SearchTool | None = request.app.state.tool
    documents = _count(tool)  # opens a newer generation first, when the index was rebuilt
    return {"status": "ok" if tool is not None else "no index",
            "index": settings.index_name, "generation": _generation(tool),
            "documents": documents,
            "tools": tool.catalog.count() if tool and tool.catalog else 0,
            "answer": bool(tool and tool.answerer), "mcp": settings.mcp,
            "auth_required": settings.api_key is not None, "version": version()}

@router.get("/search", operation_id="nyx_search", summary="Search with text (query parameters)",
         responses=ERRORS)
def search_get(request: Request, params: Annotated[SearchParams, Query()]
               ) -> dict[str, Any]:
    return _tool(request).search(params.q, params.k, params.modality,
                                 _filter(params.filter), full_text=params.full_text,
                                 **params.options())

@router.post("/search", operation_id="nyx_search_post",
          summary="Search with JSON, or with an uploaded image (multipart)",
          openapi_extra=MULTIPART_DOC, responses=ERRORS)
async def search_post(request: Request) -> dict[str, Any]:
    tool = _tool(request)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=len(SearchForm.model_fields))
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
            data or None, full_text=params.full_text, **params.options()))
    body = _validated(SearchRequest, await _json(request))
    return await run_in_threadpool(partial(tool.search, body.query, body.k, body.modality,
                                           body.filter, body.image, full_text=body.full_text,
                                           **body.options()))

@router.post("/answer", operation_id="nyx_answer",
          summary="Answer a question with the configured pipeline/ensemble")
def answer(request: Request, body: AnswerRequest) -> dict[str, Any]:
    return _tool(request).answer(body.question)

@router.get("/documents/{doc_id:path}", operation_id="nyx_get_document", responses=ERRORS,
         summary="One document: text, images, metadata")
def document(request: Request, doc_id: str) -> dict[str, Any]:
    return _tool(request).fetch_document(doc_id)

@router.get("/media/{n}/{doc_id:path}", operation_id="nyx_get_media",
         summary="The n-th image of an indexed document",
         responses={200: {"content": {"image/*": {}}}, **ERRORS})
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

@router.get("/tools", operation_id="nyx_list_tools",
         summary="The tools in OpenAI function-calling format")
def tools(request: Request) -> dict[str, Any]:
    tool: SearchTool | None = request.app.state.tool
    return {"tools": tool.tool_schemas() if tool else tool_definitions()}

@router.get("/tools/search", operation_id="nyx_search_tools",
         summary="Find catalogue tools for a task (tool retrieval)")
def search_tools(request: Request, params: Annotated[ToolSearchParams, Query()]
                 ) -> dict[str, Any]:
    return _tool(request).search_tools(params.q, params.k)

@router.post("/tools/call", operation_id="nyx_call_tool",
          summary="Execute a model's tool call; errors come back inside")
def call_tool(request: Request, body: ToolCallRequest) -> dict[str, Any]:
    return _tool(request).dispatch(body.model_dump(exclude_none=True))


def _tool(request: Request) -> SearchTool:
    tool: SearchTool | None = request.app.state.tool
    if tool is None:
        raise ToolCallError("no index is loaded in this app", "unavailable")
    return tool


def _filter(given: str | Sequence[str] | None) -> dict[str, Any] | None:
    """The ``filter`` of a query string or form, in the one filter grammar
    (:mod:`nyx.indexes.filters`): one JSON object (text starting with ``{``), or expressions
    (``year>=2024``), ``;``-separated or in repeated parameters. Returns the dict form."""
    texts = [t for t in ([given] if isinstance(given, str) else given or []) if t.strip()]
    if not texts:
        return None
    if not any(t.lstrip().startswith("{") for t in texts):
        try:
            flt = Filter.from_cli(texts)
        except ValueError as error:
            raise ToolCallError(str(error)) from error
        return flt.to_dict() or None
    if len(texts) > 1:
        raise ToolCallError("give one JSON filter, or expressions such as year>=2024 in one "
                            "or more filter parameters, not both")
    text = texts[0]
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


def _page_headers() -> dict[str, str]:
    return {"Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


def _count(tool: SearchTool | None) -> int:
    if tool is None:
        return 0
    backend = tool.retriever.load() if hasattr(tool.retriever, "load") else None
    return int(backend.count()) if backend is not None and hasattr(backend, "count") else 0


def _generation(tool: SearchTool | None) -> str | None:
    return getattr(tool.retriever, "generation", None) if tool is not None else None


def version() -> str:
    from nyx import __version__

    return __version__
