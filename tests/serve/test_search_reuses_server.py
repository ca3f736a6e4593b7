"""``nyx-index search`` asks a keyless ``nyx-index serve`` already running on the same index
(announced in the user's runtime folder) instead of loading the models: a fresh process answers
without importing sentence-transformers -- nor FAISS, NumPy, PIL, onnxruntime or the retriever:
its start-up is the whole cost of a served search -- and says which server answered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nyx.cli.index import main
from nyx.running_server import announce, find_server, note_path
from tests.serve.test_server_support import DEMO_CORPUS, ThreadedServer

pytest_plugins = ("tests.serve.test_server_support",)
pytestmark = pytest.mark.usefixtures("single_thread")
ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from nyx.cli.index import main
code = main(["search", *sys.argv[1:]])
heavy = ("numpy", "faiss", "PIL", "onnxruntime", "torch", "nyx.retriever", "importlib.metadata")
print(json.dumps({"code": code, "models": "sentence_transformers" in sys.modules,
                  "heavy": [m for m in heavy if m in sys.modules]}))
"""
SERVED = {"code": 0, "models": False, "heavy": []}


def _search(index: Path, *args: str) -> tuple[dict[str, Any], str, str]:
    done = subprocess.run([sys.executable, "-c", PROBE, str(index), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                               "PATH": "/usr/bin:/bin"})
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1]), done.stderr


def test_search_asks_the_running_server(page_server: ThreadedServer, demo_index: Path) -> None:
    with announce(demo_index, page_server.url, auth=False):
        assert find_server(demo_index) == page_server.url
        server_note = note_path(demo_index)
        assert server_note is not None and server_note.is_file()
        assert Path(demo_index).resolve() not in server_note.parents
        seen, out, err = _search(demo_index, "a cup of coffee", "-k", "3")
        assert seen == SERVED, err[-2000:]
        assert f"answered by nyx-index serve at {page_server.url}" in err
        assert "notes/coffee.md  (passage 1)" in out and "photos/espresso.jpg" in out
        # --rerank is answered by the server too (its cross-encoder, not one loaded here)
        seen, out, err = _search(demo_index, "a cup of coffee", "-k", "3", "--rerank", "5")
        assert seen == SERVED, err[-2000:]
        assert f"answered by nyx-index serve at {page_server.url}" in err
        assert "notes/coffee.md" in out
        # --rerank-scope unsure: the confident coffee query has only its top 3 re-scored
        seen, out, err = _search(demo_index, "a cup of coffee", "-k", "5", "--rerank", "10",
                                 "--rerank-scope", "unsure", "--json", "--min-score", "0")
        assert seen == SERVED, err[-2000:]
        assert [r["rerank_score"] is not None for r in json.loads(out)] == [True] * 3 + [False] * 2
        images, _, _ = _search(demo_index, "opening hours", "--modality", "image", "-k", "1")
        assert images == SERVED
        rocket = str(DEMO_CORPUS / "photos" / "rocket-launch.jpg")
        seen, out, err = _search(demo_index, "--image", rocket, "-k", "2")  # uploaded
        assert seen == SERVED, err[-2000:]
        assert out.splitlines()[0].endswith("photos/rocket-launch.jpg")
        # --json through the server: whole texts, not the 60-word snippets the API returns
        seen, out, err = _search(demo_index, "a cup of coffee", "-k", "2", "--json")
        assert seen == SERVED, err[-2000:]
        rows = json.loads(out)
        coffee = next(r for r in rows if r["id"] == "notes/coffee.md#0")
        note = (DEMO_CORPUS / "notes" / "coffee.md").read_text()
        assert len(coffee["text"].split()) > 60 and coffee["text"].split()[-1] in note
        assert coffee["source"] == "notes/coffee.md" and coffee["chunk"] == 0
    assert not server_note.exists()  # the server's note goes with it
    assert find_server(demo_index) is None


def test_a_server_that_needs_a_key_is_not_asked(page_server: ThreadedServer,
                                                demo_index: Path) -> None:
    with announce(demo_index, page_server.url, auth=True):
        assert find_server(demo_index) is None


class CountingApp:
    """An ASGI app that notes each HTTP request (``"GET /search"``), then passes it on."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


def test_search_json_asks_the_server_once(demo_tool: Any, demo_index: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``--json`` prints whole texts; the server's rows carry them (``full_text``), so the
    command makes one search request, not one more per hit for the document. Its rows are
    those of a search here (image references aside: a server names files, never paths)."""
    from nyx.serve.app import ServerSettings, create_app

    app = CountingApp(create_app(demo_tool, ServerSettings(index_name="demo.nyx")))
    query = [str(demo_index), "a cup of coffee", "-k", "3", "--json"]
    with ThreadedServer(app) as server, announce(demo_index, server.url, auth=False):
        assert main(["search", *query]) == 0
        served = capsys.readouterr()
    assert f"answered by nyx-index serve at {server.url}" in served.err
    assert [r for r in app.requests if r != "GET /health"] == ["GET /search"]
    rows = json.loads(served.out)
    coffee = next(r for r in rows if r["id"] == "notes/coffee.md#0")
    note = (DEMO_CORPUS / "notes" / "coffee.md").read_text()
    assert len(coffee["text"].split()) > 60 and coffee["text"].split()[-1] in note
    assert main(["search", *query, "--no-server"]) == 0
    local = json.loads(capsys.readouterr().out)
    for row in rows + local:
        row["images"] = [Path(ref).name for ref in row["images"]]
    assert rows == local


def test_commands_of_other_packages_are_found_only_when_asked_for(capsys) -> None:
    """A built-in command skips reading every installed package's metadata; ``serve`` (an
    entry point of nyx's serve package) is still found by name and listed by --help."""
    from nyx.cli.index import _names_builtin_command, build_parser

    assert _names_builtin_command(["-v", "search", "idx", "q"])
    assert not _names_builtin_command(["serve", "idx"]) and not _names_builtin_command(["-h"])
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0 and "usage: nyx-index serve" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "serve" in capsys.readouterr().out
    assert "serve" not in build_parser(plugins=False).format_help()
