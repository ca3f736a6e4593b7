"""Hostile requests: numbers too large for a filter, and Host headers naming another site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nyx.builder import build_index
from nyx.ensemble.retrievers.nyx_retriever import NyxRetriever
from nyx.ensemble.tools import SearchTool
from nyx.indexes.filters import Filter
from nyx.serve.app import ServerSettings, create_app, media_url
from tests.security.conftest import options

HUGE = 10**1000


@pytest.fixture(scope="module")
def index(lite, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("requests")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "r.jsonl").write_text(json.dumps(
        {"id": "a", "text": "Lighthouses guide ships.", "metadata": {"year": 2024}}) + "\n")
    build_index(corpus, root / "idx", options(lite))
    return root / "idx"


def _client(index: Path, host: str = "127.0.0.1", base_url: str = "http://127.0.0.1"):
    tool = SearchTool(NyxRetriever(index=str(index)), media_url=media_url)
    return TestClient(create_app(tool, ServerSettings(mcp=False, host=host)), base_url=base_url)


@pytest.mark.parametrize("spec", [{"year": {"gte": HUGE}}, {"year": {"lt": -HUGE}},
                                  {"year": HUGE}, {"year": {"any": [1, HUGE]}}])
def test_a_huge_integer_in_a_filter_is_a_value_error_naming_the_key(spec):
    with pytest.raises(ValueError, match=r"'year'.*64-bit") as err:
        Filter.parse(spec)
    assert len(str(err.value)) < 300  # the number is not echoed whole


def test_a_huge_integer_in_a_filter_is_a_422_over_http(index):
    client = _client(index)
    for spec in ({"year": {"gte": HUGE}}, {"year": HUGE}):
        reply = client.get("/search", params={"q": "ships", "filter": json.dumps(spec)})
        assert reply.status_code == 422, reply.text[:300]
        assert "64-bit" in reply.json()["error"]
    ok = client.get("/search", params={"q": "ships", "filter": '{"year": {"gte": 2000}}'})
    assert ok.status_code == 200 and ok.json()["results"]


def test_a_loopback_server_refuses_other_host_names(index):
    client = _client(index)
    assert client.get("/health").status_code == 200
    for base in ("http://localhost:8765", "http://[::1]:8765"):
        assert _client(index, base_url=base).get("/health").status_code == 200
    rebound = client.get("/search", params={"q": "ships"}, headers={"host": "evil.example"})
    assert rebound.status_code == 421 and rebound.json()["code"] == "misdirected_request"
    assert client.get("/health", headers={"host": "127.0.0.1.evil.example:80"}).status_code == 421


def test_a_server_bound_to_all_interfaces_answers_any_name(index):
    client = _client(index, host="0.0.0.0", base_url="http://search.example")
    assert client.get("/health").status_code == 200
