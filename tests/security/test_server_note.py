"""An index folder holds data only: a planted ``serving.json`` cannot send the user's query to
another server, and a server note is trusted only from the user's own runtime folder."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nyx.builder import build_index
from nyx.cli.index import main
from nyx.indexes import IndexDirectory
from nyx.running_server import RUNTIME_ENV, announce, find_server, note_path
from tests.security.conftest import options


@pytest.fixture
def decoy():
    """A loopback HTTP server that answers like nyx-index serve and records every request."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            body = (b'{"status": "ok"}' if self.path == "/health" else json.dumps(
                {"results": [{"id": "PLANTED", "score": 1.0, "text": "PLANTED ANSWER"}]}
            ).encode())
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def index(lite, tmp_path, monkeypatch):
    monkeypatch.setenv(RUNTIME_ENV, str(tmp_path / "run"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Lighthouses guide ships along rocky coasts.")
    build_index(corpus, tmp_path / "idx", options(lite))
    return tmp_path / "idx"


def test_a_planted_serving_json_is_ignored(index, decoy, capsys):
    url, seen = decoy
    generation = IndexDirectory(index).current().name
    (index / "serving.json").write_text(json.dumps(
        {"url": url, "pid": os.getpid(), "auth": False, "generation": generation}))
    assert find_server(index) is None
    assert main(["search", str(index), "ships", "--mode", "lexical"]) == 0
    out = capsys.readouterr().out
    assert "PLANTED" not in out and "a.txt" in out and seen == []


def test_the_note_is_trusted_only_from_a_private_runtime_folder_and_for_its_index(
        index, decoy, tmp_path):
    url, seen = decoy
    with announce(index, url, auth=False):
        note = note_path(index)
        assert note is not None and note.parent == tmp_path / "run"
        assert find_server(index) == url  # the honest case still works
        data = json.loads(note.read_text())
        note.write_text(json.dumps({**data, "index": str(tmp_path / "elsewhere")}))
        assert find_server(index) is None  # a note for another index
        note.write_text(json.dumps(data))
        os.chmod(tmp_path / "run", 0o777)  # others could have planted it
        assert find_server(index) is None
        os.chmod(tmp_path / "run", 0o700)
        assert find_server(index) == url


def test_search_says_why_it_does_not_ask_an_announced_server(index, capsys):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    note = note_path(index, create=True)
    note.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": dead.pid, "auth": False,
                                "index": str(index.resolve()), "generation": "gen-000001"}))
    assert main(["search", str(index), "ships", "--mode", "lexical"]) == 0
    captured = capsys.readouterr()
    assert f"(PID {dead.pid}) is not running; searching here" in captured.err
    assert "a.txt" in captured.out
