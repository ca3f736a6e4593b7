"""The MCP server through the official SDK's client: over stdio against a real
``nyx-index serve --mcp`` process, and over streamable HTTP on loopback."""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image

from tests.serve.test_server_support import (
    API_KEY,
    RunningServer,
    ThreadedServer,
    server_env,
)

pytest_plugins = ("tests.serve.test_server_support",)
pytestmark = pytest.mark.usefixtures("single_thread")
mcp = pytest.importorskip("mcp", reason="the MCP tests need the serve extra (pip install mcp)")

from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402

TIMEOUT = 150
Connect = Callable[[], AbstractAsyncContextManager[ClientSession]]


async def check_session(session: ClientSession) -> None:
    """What every transport must do: list the tools, search, fetch, refuse bad input."""
    await session.initialize()
    listed = await session.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert list(tools) == ["search", "fetch_document", "answer", "search_tools"]
    assert tools["search"].input_schema["properties"]["k"]["maximum"] == 50
    assert tools["search"].annotations.read_only_hint is True

    found = await session.call_tool("search", {"query": "a cup of coffee", "k": 3})
    assert not found.is_error
    ids = [r["id"] for r in found.structured_content["results"]]
    assert {"photos/espresso.jpg", "notes/coffee.md#0"} & set(ids)
    assert '"results"' in found.content[0].text
    # image hits come as image content too (JPEG thumbnails), each after a line naming it
    images = [c for c in found.content if c.type == "image"]
    assert images and all(c.mime_type == "image/jpeg" for c in images)
    thumb = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    assert max(thumb.size) <= 256 and thumb.format == "JPEG"
    labels = [c.text for c in found.content if c.type == "text"][1:]
    assert any(label.startswith("image 0 of photos/espresso.jpg: ") for label in labels)

    doc = await session.call_tool("fetch_document", {"id": ids[0]})
    assert not doc.is_error and doc.structured_content["id"] == ids[0]

    bad = await session.call_tool("search", {"query": "coffee", "k": 0, "colour": "red"})
    assert bad.is_error and bad.structured_content["code"] == "invalid_arguments"
    assert "unknown argument(s) ['colour']" in bad.structured_content["error"]
    missing = await session.call_tool("fetch_document", {"id": "no-such-doc"})
    assert missing.is_error and missing.structured_content["code"] == "not_found"
    answer = await session.call_tool("answer", {"question": "What is in the cup?"})
    assert answer.is_error and answer.structured_content["code"] == "not_configured"
    tools_found = await session.call_tool("search_tools", {"query": "verify an index", "k": 3})
    assert "nyx-index verify" in [t["name"] for t in tools_found.structured_content["tools"]]


def run(connect: Connect) -> None:
    async def main() -> None:
        with anyio.fail_after(TIMEOUT):
            async with connect() as session:
                await check_session(session)

    anyio.run(main)


def test_stdio_server_process(demo_index: Path, entry_point_stub: Path, tmp_path: Path,
                              http_server_process: RunningServer) -> None:
    """`nyx-index serve INDEX --mcp` (found through the nyx.cli entry point) over stdio.
    (``http_server_process`` only starts the HTTP server early, for the tests after this.)"""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "nyx.cli.index", "serve", str(demo_index), "--mcp"],
        env=server_env(entry_point_stub), cwd=str(tmp_path))
    log = tmp_path / "stdio-server.log"

    @asynccontextmanager
    async def connect() -> AsyncIterator[ClientSession]:
        with log.open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), \
                    ClientSession(read, write) as session:
                yield session  # leaving stdio_client stops the server process

    try:
        run(connect)
    except BaseException:
        sys.stderr.write(log.read_text(errors="replace")[-3000:])
        raise


def http_connect(url: str, headers: dict[str, str] | None = None) -> Connect:
    @asynccontextmanager
    async def connect() -> AsyncIterator[ClientSession]:
        async with create_mcp_http_client(headers=headers) as client, \
                streamable_http_client(url, http_client=client) as (read, write), \
                ClientSession(read, write) as session:
            yield session

    return connect


def test_streamable_http_on_the_served_app(http_server: RunningServer) -> None:
    """MCP at /mcp of the `nyx-index serve` process, behind its API key."""
    run(http_connect(f"{http_server.url}/mcp", {"Authorization": f"Bearer {API_KEY}"}))


def test_standalone_streamable_http_server(demo_tool: Any) -> None:
    """The MCP-only app of `--mcp --transport http`, served on a free loopback port."""
    from nyx.serve.mcp_server import create_mcp_server, mcp_http_app

    app = mcp_http_app(create_mcp_server(demo_tool), host="127.0.0.1", api_key=API_KEY)
    with ThreadedServer(app) as server:
        run(http_connect(f"{server.url}/mcp", {"X-API-Key": API_KEY}))
        import httpx

        refused = httpx.post(f"{server.url}/mcp", json={}, headers={"X-API-Key": "nope-nope"})
        assert refused.status_code == 401


def test_missing_index_is_a_clear_error(tmp_path: Path, entry_point_stub: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from nyx.cli.index import main

    monkeypatch.syspath_prepend(str(entry_point_stub))
    code = main(["serve", str(tmp_path / "nothing"), "--mcp"])
    assert code == 2
    assert "no index folder" in capsys.readouterr().err
