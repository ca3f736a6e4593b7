"""Session fixtures for the server tests: one demo index, one real ``nyx-index serve`` HTTP
server process, a ``nyx.cli`` entry-point stub, in-process servers on free loopback ports.

Test modules load this file with ``pytest_plugins`` so that every fixture here is built once
per session, whichever module asks first. It holds no tests itself.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

logger = logging.getLogger(__name__)

DEMO_CORPUS = Path(__file__).resolve().parents[2] / "nyx" / "data" / "demo_corpus"
API_KEY = "test-key-0123456789"
STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def report(request: pytest.FixtureRequest, text: str) -> None:
    """Show a measurement in the test log even when output is captured."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + text)


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log else ""


def wait_until_up(url: str, process: subprocess.Popen[bytes] | None = None,
                  log: Path | None = None, timeout: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"server at {url} did not come up in {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate one process we started (then kill it if it lingers)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Encode on ``n`` threads: on two cores shared with other work, one thread per query is
    several times faster than two fighting for them."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory, lite: Any) -> Path:
    """The bundled demo corpus, indexed once per session with the shared encoder."""
    from nyx.builder import BuildOptions, build_index

    out = tmp_path_factory.mktemp("index") / "demo.nyx"
    with torch_threads(1):
        build_index(DEMO_CORPUS, out, BuildOptions(model=lite, show_progress=False))
    return out


@pytest.fixture(scope="session")
def demo_retriever(demo_index: Path, lite: Any) -> Iterator[Any]:
    from nyx import Retriever

    retriever = Retriever.load(demo_index, encoder=lite)
    yield retriever
    retriever.close()


@pytest.fixture(scope="session")
def entry_point_stub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that, on sys.path, declares the ``nyx.cli`` entry point pyproject will declare
    (``serve = "nyx.serve.cli:register"``), so the tests use the real plugin hook."""
    root = tmp_path_factory.mktemp("entry-points")
    info = root / "nyx_serve_test_stub-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nyx-serve-test-stub\n"
                                   "Version: 0.0\n")
    (info / "entry_points.txt").write_text("[nyx.cli]\nserve = nyx.serve.cli:register\n")
    return root


def server_env(entry_point_stub: Path) -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    paths = [str(entry_point_stub), root, os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NYX_API_KEY": ""}


@pytest.fixture(scope="session")
def http_server_process(demo_index: Path, entry_point_stub: Path,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """``nyx-index serve DEMO --http --api-key KEY`` as a real uvicorn process on loopback,
    started without waiting (tests that run first request it so the server loads meanwhile);
    :func:`http_server` waits until it answers."""
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "http-server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "nyx.cli.index", "serve", str(demo_index), "--http",
             "--host", "127.0.0.1", "--port", str(port), "--api-key", API_KEY],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=server_env(entry_point_stub))
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", process, log)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def http_server(http_server_process: RunningServer) -> RunningServer:
    wait_until_up(http_server_process.url, http_server_process.process, http_server_process.log)
    return http_server_process


class ThreadedServer:
    """An ASGI app under uvicorn in a background thread of the test process, on a free
    loopback port: a real HTTP server without loading the models again."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"in-process server on {self.url} did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="session")
def demo_tool(demo_retriever: Any) -> Any:
    """A SearchTool over the in-process demo retriever, with Nyx's own tool catalogue."""
    from nyx.cli.index import build_parser
    from nyx.ensemble.tools import SearchTool
    from nyx.serve.app import media_url
    from nyx.serve.catalog import ToolCatalog

    with torch_threads(1):
        catalog = ToolCatalog.from_sources(["nyx"], encoder=demo_retriever.encoder,
                                           cli_parser=build_parser())
    return SearchTool(demo_retriever, catalog=catalog, media_url=media_url)


@pytest.fixture(scope="session")
def page_server(demo_tool: Any) -> Iterator[ThreadedServer]:
    """The full app (page, API, MCP at /mcp) without an API key, in-process."""
    from nyx.serve.app import ServerSettings, create_app

    app = create_app(demo_tool, ServerSettings(index_name="demo.nyx"))
    with ThreadedServer(app) as server:
        yield server
