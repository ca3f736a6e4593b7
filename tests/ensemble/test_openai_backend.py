"""The OpenAI-compatible HTTP generator against a tiny local server (stdlib http.server)."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nyx.ensemble import (
    DiskCache,
    GeneratorRequestError,
    GeneratorTimeoutError,
    GeneratorUnavailableError,
    OpenAIGenerator,
)


class FakeOpenAI(ThreadingHTTPServer):
    """Answers /v1/chat/completions; ``script`` holds per-request behaviours to replay."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict] = []
        self.script: list[str] = []  # "503", "sleep", "400", "nologprobs"
        self.lock = threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, code, payload):
        blob = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)

    def do_POST(self):
        server: FakeOpenAI = self.server  # type: ignore[assignment]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with server.lock:
            server.requests.append({"body": body, "auth": self.headers.get("Authorization")})
            action = server.script.pop(0) if server.script else "ok"
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": "not found"})
        if action == "503":
            return self._send(503, {"error": "overloaded"})
        if action == "400":
            return self._send(400, {"error": {"message": "model 'x' does not exist"}})
        if action == "sleep":
            time.sleep(0.6)
        if action == "nologprobs" and body.get("logprobs"):
            return self._send(400, {"error": {"message": "logprobs are not supported"}})
        question = body["messages"][-1]["content"]
        text = f"Answer to {question}. More text"
        tokens = ["Answer", " to", f" {question}", ".", " More", " text"]
        content = None
        if body.get("logprobs"):
            content = [{"token": t, "logprob": math.log(0.5),
                        "top_logprobs": [{"token": t, "logprob": math.log(0.5)},
                                         {"token": "x", "logprob": math.log(0.25)}]}
                       for t in tokens]
        self._send(200, {"model": body["model"], "choices": [{
            "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
            "logprobs": {"content": content} if content else None}]})


@pytest.fixture()
def server():
    srv = FakeOpenAI()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_generation_with_logprobs_entropy_and_stop(server, monkeypatch):
    monkeypatch.setenv("NYX_TEST_KEY", "secret")
    llm = OpenAIGenerator(server.url, model="smol", api_key_env="NYX_TEST_KEY",
                          generation={"max_new_tokens": 7, "stop": [" More"], "top_logprobs": 2})
    gen = llm.generate("Q1")[0]
    assert gen.text == "Answer to Q1."
    assert gen.tokens == ["Answer", " to", " Q1", "."]
    assert gen.token_logprobs == pytest.approx([math.log(0.5)] * 4)
    # top two hold 0.75 of the mass; the other 0.25 counts as one outcome
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert gen.token_entropies == pytest.approx([expected] * 4)
    assert gen.finish_reason == "stop" and gen.model == "smol"
    body = server.requests[0]["body"]
    assert body["messages"] == [{"role": "user", "content": "Q1"}]
    assert body["max_tokens"] == 7 and body["temperature"] == 0.0 and body["stop"] == [" More"]
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    assert server.requests[0]["auth"] == "Bearer secret"


def test_batches_run_concurrently_and_keep_order(server):
    server.script = ["sleep"] * 4
    llm = OpenAIGenerator(server.url, max_concurrency=4, timeout_s=5)
    start = time.perf_counter()
    gens = llm.generate([f"Q{i}" for i in range(4)])
    assert time.perf_counter() - start < 2.0  # 4 x 0.6 s sequentially
    assert [g.text.split(".")[0] for g in gens] == [f"Answer to Q{i}" for i in range(4)]


def test_retries_with_backoff_then_succeeds(server):
    server.script = ["503", "503"]
    llm = OpenAIGenerator(server.url, max_retries=2, backoff_s=0.05)
    start = time.perf_counter()
    assert llm.generate("Q")[0].text.startswith("Answer to Q")
    assert len(server.requests) == 3
    assert time.perf_counter() - start >= 0.05 + 0.1  # backoff 0.05 then 0.1


def test_gives_up_after_retries(server):
    server.script = ["503"] * 5
    llm = OpenAIGenerator(server.url, max_retries=1, backoff_s=0.01)
    with pytest.raises(GeneratorUnavailableError, match="after 2 attempts"):
        llm.generate("Q")
    assert len(server.requests) == 2


def test_timeout_is_retried_then_reported(server):
    server.script = ["sleep", "sleep"]
    llm = OpenAIGenerator(server.url, timeout_s=0.2, max_retries=1, backoff_s=0.01)
    with pytest.raises(GeneratorTimeoutError, match="did not answer within 0.2 s"):
        llm.generate("Q")
    server.script = ["sleep"]
    assert llm.generate("Q")[0].text.startswith("Answer")  # second attempt is quick


def test_client_errors_are_not_retried(server):
    server.script = ["400"]
    llm = OpenAIGenerator(server.url, max_retries=3, backoff_s=0.01)
    with pytest.raises(GeneratorRequestError, match="HTTP 400.*does not exist"):
        llm.generate("Q")
    assert len(server.requests) == 1


def test_server_without_logprobs_is_asked_again_without(server):
    server.script = ["nologprobs"]
    llm = OpenAIGenerator(server.url)
    gen = llm.generate("Q")[0]
    assert gen.text.startswith("Answer to Q") and gen.token_logprobs == []
    assert llm.logprobs is False and "logprobs" not in server.requests[-1]["body"]


def test_unreachable_endpoint_names_the_url():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = OpenAIGenerator(f"http://127.0.0.1:{port}/v1", max_retries=1, backoff_s=0.01,
                          timeout_s=1)
    with pytest.raises(GeneratorUnavailableError, match=f"cannot reach .*:{port}.*server"):
        llm.generate("Q")


def test_cache_skips_the_server(server, tmp_path):
    llm = OpenAIGenerator(server.url, cache=DiskCache(tmp_path / "cache.sqlite"))
    first = llm.generate(["A", "B"])
    again = llm.generate(["B", "A", "C"])
    assert len(server.requests) == 3
    assert [g.cached for g in again] == [True, True, False]
    assert again[0].to_dict() == first[1].to_dict()
    llm.generate(["A"], temperature=0.7)  # sampling without a seed is never cached
    llm.generate(["A"], temperature=0.7)
    assert len(server.requests) == 5


def test_option_logprobs_from_top_logprobs(server):
    llm = OpenAIGenerator(server.url)
    scores = llm.option_logprobs(["Q"], ["answer", "x", "zzz"])[0]
    assert scores["answer"] == pytest.approx(math.log(0.5))
    assert scores["x"] == pytest.approx(math.log(0.25))
    assert scores["zzz"] == pytest.approx(math.log(0.25) - 1.0)


def test_bad_settings():
    with pytest.raises(ValueError, match="http"):
        OpenAIGenerator("127.0.0.1:8000")
