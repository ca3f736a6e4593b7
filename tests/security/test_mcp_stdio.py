"""MCP over stdio answers every malformed line with a JSON-RPC error instead of dropping it
(a client waiting for the reply would otherwise hang)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

import pytest

from nyx.builder import build_index
from tests.security.conftest import options

pytest.importorskip("mcp", reason="the MCP tests need the serve extra")


def test_malformed_lines_get_json_rpc_errors_and_the_server_goes_on(lite, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Lighthouses guide ships along rocky coasts.")
    build_index(corpus, tmp_path / "idx", options(lite))
    server = subprocess.Popen(
        [sys.executable, "-m", "nyx.cli.index", "serve", str(tmp_path / "idx"), "--mcp"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    replies: queue.Queue[dict] = queue.Queue()

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            replies.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    assert server.stdin is not None
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"}}}
    try:
        for line in ("this is not json", json.dumps({"jsonrpc": "2.0", "id": 7,
                                                      "method": "tools/list", "params": "str"}),
                     "[1, 2", json.dumps(initialize)):
            server.stdin.write(line + "\n")
            server.stdin.flush()
        got = {}
        for _ in range(4):
            reply = replies.get(timeout=120)
            got.setdefault(json.dumps(reply.get("id")), []).append(reply)
    finally:
        server.kill()
        server.wait(timeout=30)
    parse_errors = got["null"]
    assert [r["error"]["code"] for r in parse_errors] == [-32700, -32700]
    assert got["7"][0]["error"]["code"] == -32600 and "params" in got["7"][0]["error"]["message"]
    assert got["1"][0]["result"]["serverInfo"]  # the session still works
