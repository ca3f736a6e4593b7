"""The MCP server (official ``mcp`` SDK, low-level ``Server``): search, fetch_document, answer
and search_tools, with the input schemas of :func:`nyx.ensemble.tools.tool_definitions`.

The low-level server is used rather than ``MCPServer`` (FastMCP in mcp 1.x) so that MCP
advertises exactly the schemas function calling and the HTTP API validate against, instead
of schemas re-derived from Python signatures.

>>> server = create_mcp_server(SearchTool(retriever))
>>> run_stdio(server)                                       # for a desktop client
>>> run_http(server, host="127.0.0.1", port=8765)           # streamable HTTP at /mcp
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from nyx.ensemble.tools import SearchTool, ToolCallError

logger = logging.getLogger(__name__)

__all__ = ["MAX_THUMBNAILS", "create_mcp_server", "mcp_http_app", "run_http", "run_stdio"]

#: image hits of one search sent as image content (the rest as paths in the JSON only)
MAX_THUMBNAILS = 5

INSTRUCTIONS = ("Nyx searches a collection of text, images and documents that mix both. Use "
                "`search` to find documents (ids, scores, snippets, image references, and "
                "thumbnails of the images found), "
                "`fetch_document` to read one in full, `answer` for a generated answer with a "
                "confidence when a pipeline is configured, and `search_tools` to find API "
                "operations in the tool catalogue that can do a task.")


def _require_mcp() -> Any:
    try:
        import mcp_types
        from mcp.server.lowlevel import Server
    except ImportError as error:
        raise ImportError("the MCP server needs the official MCP SDK: pip install 'mcp>=2.3' "
                          "(the serve extra: pip install 'nyx-retrieval[serve]')") from error
    return mcp_types, Server


def create_mcp_server(tool: SearchTool, name: str = "nyx") -> Any:
    """A low-level ``mcp.server.lowlevel.Server`` whose tools call ``tool``."""
    import anyio

    types, Server = _require_mcp()
    definitions = [d["function"] for d in tool.tool_schemas()]
    read_only = types.ToolAnnotations(read_only_hint=True, destructive_hint=False,
                                      idempotent_hint=True, open_world_hint=False)
    listed = [types.Tool(name=d["name"], description=d["description"],
                         input_schema=d["parameters"], annotations=read_only)
              for d in definitions]
    schemas = {d["name"]: d["parameters"] for d in definitions}

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=listed)

    async def call_tool(ctx: Any, params: Any) -> Any:
        arguments = dict(params.arguments or {})
        try:
            # Retrieval is blocking work; keep the event loop free for other sessions.
            result = await anyio.to_thread.run_sync(tool.call, params.name, arguments)
        except ToolCallError as error:
            logger.info("MCP tool %s refused: %s", params.name, error)
            return _result(types, error.to_dict(params.name), is_error=True)
        except Exception as error:
            logger.exception("MCP tool %s failed", params.name)
            return _result(types, {"error": f"{type(error).__name__}: {error}",
                                   "code": "internal_error", "tool": params.name}, True)
        content = _result(types, result)
        if params.name == "search":
            content.content.extend(await anyio.to_thread.run_sync(_thumbnails, types, tool,
                                                                  result))
        return content

    from nyx import __version__

    return Server(name, version=__version__, title="Nyx retrieval", instructions=INSTRUCTIONS,
                  get_tool_input_schema=schemas.get, on_list_tools=list_tools,
                  on_call_tool=call_tool)


def _result(types: Any, payload: dict[str, Any], is_error: bool = False) -> Any:
    text = json.dumps(payload, ensure_ascii=False)
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                structured_content=payload, is_error=is_error)


def _thumbnails(types: Any, tool: SearchTool, result: dict[str, Any]) -> list[Any]:
    """Image content for the hits' images (JPEG thumbnails, at most ``MAX_THUMBNAILS``), each
    after a text line naming the hit and image it shows, so an agent can see the pictures
    and still cite ids and paths from the JSON."""
    content: list[Any] = []
    for row in result.get("results", []):
        for n, ref in enumerate(row.get("images", [])):
            if len(content) >= 2 * MAX_THUMBNAILS:
                return content
            try:
                data = tool.thumbnail(row["id"], n)
            except ToolCallError as error:
                logger.info("no thumbnail for %s image %d: %s", row["id"], n, error)
                continue
            content.append(types.TextContent(type="text", text=f"image {n} of {row['id']}: "
                                                               f"{ref}"))
            content.append(types.ImageContent(type="image", mime_type="image/jpeg",
                                              data=base64.b64encode(data).decode("ascii")))
    return content


def stdio_problem(line: str) -> Any | None:
    """The JSON-RPC error reply a malformed stdin line gets, or None for a well-formed message.

    Invalid JSON is a parse error (-32700, id null); JSON that is not a JSON-RPC message (e.g.
    ``"params": "str"``) is an invalid request (-32600) carrying the request's id when it has one.
    The SDK's own reader drops both without a reply, so the client waits forever.
    """
    import json

    import mcp_types as types
    from pydantic import ValidationError

    try:
        payload = json.loads(line)
    except ValueError as error:
        return types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(
            code=types.PARSE_ERROR, message=f"Parse error: {error}"))
    try:
        types.jsonrpc_message_adapter.validate_python(payload, by_name=False)
    except ValidationError as error:
        raw_id = payload.get("id") if isinstance(payload, dict) else None
        request_id = raw_id if isinstance(raw_id, (str, int)) and not isinstance(
            raw_id, bool) else None
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(
            code=types.INVALID_REQUEST,
            message=f"Invalid Request: {where}: {first.get('msg', 'not a JSON-RPC message')}"))
    return None


def run_stdio(server: Any) -> None:
    """Serve one client over stdin/stdout until it disconnects (logs go to stderr). Every
    malformed line is answered with a JSON-RPC error (:func:`stdio_problem`)."""
    import io
    import sys

    import anyio
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    problems_send, problems_recv = anyio.create_memory_object_stream[Any](16)

    class CheckedLines:
        """stdin's lines, with malformed ones turned into error replies instead."""

        def __init__(self, lines: Any) -> None:
            self.lines = lines

        async def __aiter__(self) -> Any:
            async for line in self.lines:
                if not line.strip():
                    continue
                problem = stdio_problem(line)
                if problem is None:
                    yield line
                else:
                    await problems_send.send(problem)
            problems_send.close()

    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")

    async def serve() -> None:
        lines = CheckedLines(anyio.wrap_file(stdin))
        async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]

            async def reply_to_problems() -> None:
                async with problems_recv:
                    async for problem in problems_recv:
                        await write_stream.send(SessionMessage(problem))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(reply_to_problems)
                await server.run(read_stream, write_stream,
                                 server.create_initialization_options())
                tasks.cancel_scope.cancel()

    logger.info("MCP server on stdio")
    anyio.run(serve)


def mcp_http_app(server: Any, *, host: str = "127.0.0.1", api_key: str | None = None) -> Any:
    """A Starlette app serving MCP's streamable HTTP transport at ``/mcp``, behind the API key
    when one is given. Loopback hosts get the SDK's DNS-rebinding protection."""
    from nyx.serve.security import ApiKeyMiddleware

    app = server.streamable_http_app(streamable_http_path="/mcp", host=host)
    return ApiKeyMiddleware(app, api_key)


def run_http(server: Any, *, host: str = "127.0.0.1", port: int = 8765,
             api_key: str | None = None) -> None:
    """Serve MCP over streamable HTTP at ``http://HOST:PORT/mcp`` until interrupted."""
    import uvicorn

    logger.info("MCP server on http://%s:%d/mcp", host, port)
    uvicorn.run(mcp_http_app(server, host=host, api_key=api_key), host=host, port=port,
                log_level="warning")
