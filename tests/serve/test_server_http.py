"""The HTTP API through a real ``nyx-index serve`` uvicorn process on loopback: good
queries, image upload, bad input, the API key, media safety and a bounded load test."""

from __future__ import annotations

import io
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from nyx.ensemble.tools import MAX_IMAGE_BYTES, MAX_QUERY_CHARS
from tests.serve.test_server_support import API_KEY, RunningServer, report

pytest_plugins = ("tests.serve.test_server_support",)
pytestmark = pytest.mark.usefixtures("single_thread")

ESPRESSO = Path(__file__).resolve().parents[2] / "nyx/data/demo_corpus/photos/espresso.jpg"


@pytest.fixture(scope="module")
def client(http_server: RunningServer) -> Any:
    with httpx.Client(base_url=http_server.url, headers={"X-API-Key": API_KEY},
                      timeout=60) as session:
        yield session


def test_health_openapi_and_page_are_public(http_server: RunningServer) -> None:
    health = httpx.get(f"{http_server.url}/health").json()
    assert health["status"] == "ok" and health["documents"] == 14
    assert health["auth_required"] is True and health["tools"] > 0
    spec = httpx.get(f"{http_server.url}/openapi.json").json()
    assert {"/search", "/answer", "/documents/{doc_id}", "/health"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/search"]["post"]["requestBody"]["content"]
    page = httpx.get(f"{http_server.url}/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers[
        "content-security-policy"]


def test_get_and_post_search(client: httpx.Client) -> None:
    got = client.get("/search", params={"q": "a cup of coffee", "k": 3}).json()
    ids = [r["id"] for r in got["results"]]
    assert {"photos/espresso.jpg", "notes/coffee.md#0"} & set(ids[:3])
    posted = client.post("/search", json={"query": "a cup of coffee", "k": 3}).json()
    assert [r["id"] for r in posted["results"]] == ids
    shop = client.get("/search", params={"q": "refund", "filter": '{"topic": "shop"}'}).json()
    assert {r["id"] for r in shop["results"]} == {"faq-returns", "faq-shipping"}
    # the one filter grammar: expressions in the query string (repeatable) or the JSON body
    for params in ({"q": "refund", "filter": "topic=shop"}, {"q": "refund", "filter": "topic=s*"},
                   [("q", "refund"), ("filter", "topic=shop|nothing"), ("filter", "year>=2024")]):
        reply = client.get("/search", params=params)
        assert reply.status_code == 200, reply.text
        assert reply.json()["results"] == shop["results"]
    posted = client.post("/search", json={"query": "refund", "filter": "topic=shop"}).json()
    assert posted["results"] == shop["results"]


def test_image_upload_search(client: httpx.Client) -> None:
    files = {"image": ("espresso.jpg", ESPRESSO.read_bytes(), "image/jpeg")}
    reply = client.post("/search", data={"k": "3"}, files=files)
    assert reply.status_code == 200, reply.text
    assert reply.json()["results"][0]["id"] == "photos/espresso.jpg"


def test_documents_and_media(client: httpx.Client) -> None:
    doc = client.get("/documents/notes/coffee.md%230").json()
    assert doc["id"] == "notes/coffee.md#0" and "espresso" in doc["text"].lower()
    image = client.get(doc["image_urls"][0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content == ESPRESSO.read_bytes()
    assert image.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", [
    "/media/0/..%2F..%2F..%2Fetc%2Fpasswd", "/media/0/../../etc/passwd",
    "/media/0//etc/passwd", "/media/5/photos/espresso.jpg", "/media/0/faq-returns",
    "/documents/no-such-doc",
])
def test_media_serves_only_indexed_images(client: httpx.Client, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 404, reply.text
    assert "root:" not in reply.text


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "expected"), [
    ("get", "/search", {"params": {"q": "x", "k": 0}}, 422, "k: Input should be greater"),
    ("get", "/search", {"params": {"q": "x", "k": 1000}}, 422, "less than or equal to 50"),
    ("get", "/search", {"params": {"q": "x" * (MAX_QUERY_CHARS + 1)}}, 422, "at most 2000"),
    ("get", "/search", {"params": {"q": "x", "colour": "red"}}, 422, "unknown field 'colour'"),
    ("get", "/search", {"params": {"q": "x", "filter": "{oops"}}, 422, "not valid JSON"),
    ("get", "/search", {"params": {"q": "x", "filter": "year=>2024"}}, 422, "write year>="),
    ("get", "/search", {"params": {"q": "x", "filter": "nokey=1"}}, 422,
     "no document has metadata field 'nokey'; fields: "),
    ("post", "/search", {"json": {"query": "x", "filter": {"nokey": 1}}}, 422, "'nokey'"),
    ("post", "/search", {"json": {"query": "x", "colour": "red"}}, 422, "unknown field"),
    ("post", "/search", {"json": {"query": "x", "k": "5"}}, 422, "valid integer"),
    ("post", "/search", {"content": b"{not json", "headers": {
        "content-type": "application/json"}}, 422, "not valid JSON"),
    ("post", "/search", {"files": {"image": ("x.png", b"not an image", "image/png")}},
     422, "not an image"),
    ("post", "/search", {"data": {"k": "3", "extra": "1"}, "files": {
        "image": ("x.jpg", b"", "image/jpeg")}}, 422, "unknown field 'extra'"),
    ("post", "/answer", {"json": {"question": "Why?"}}, 501, "no answering pipeline"),
    ("post", "/answer", {"json": {"question": "Why?", "k": 3}}, 422, "unknown field 'k'"),
    ("get", "/tools/search", {"params": {"q": ""}}, 422, "at least 1 character"),
])
def test_bad_input_gets_clear_4xx(client: httpx.Client, method: str, path: str,
                                  kwargs: dict[str, Any], status: int, expected: str) -> None:
    reply = getattr(client, method)(path, **kwargs)
    assert reply.status_code == status, reply.text
    assert expected in reply.json()["error"]


def test_oversized_upload_and_pixel_bomb(client: httpx.Client) -> None:
    big = b"\xff\xd8" + b"\0" * (MAX_IMAGE_BYTES + 10)
    reply = client.post("/search", files={"image": ("big.jpg", big, "image/jpeg")})
    assert reply.status_code == 413 and "limit is 10,485,760" in reply.json()["error"]
    huge = client.post("/search", content=b"x" * (2 * MAX_IMAGE_BYTES),
                       headers={"content-type": "application/json"})
    assert huge.status_code == 413 and huge.json()["code"] == "too_large"
    buffer = io.BytesIO()
    Image.new("L", (6000, 5000)).save(buffer, "PNG")
    bomb = client.post("/search", files={"image": ("bomb.png", buffer.getvalue(), "image/png")})
    assert bomb.status_code == 413 and "pixels" in bomb.json()["error"]


def test_api_key(http_server: RunningServer) -> None:
    url = f"{http_server.url}/search?q=coffee"
    assert httpx.get(url).status_code == 401
    wrong = httpx.get(url, headers={"X-API-Key": "wrong-key-123456"})
    assert wrong.status_code == 401 and "--api-key" in wrong.json()["error"]
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(url, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200
    assert httpx.get(f"{http_server.url}/media/0/photos/espresso.jpg").status_code == 401
    assert httpx.post(f"{http_server.url}/mcp", json={}).status_code == 401


def test_tool_endpoints(client: httpx.Client) -> None:
    names = [t["function"]["name"] for t in client.get("/tools").json()["tools"]]
    assert names == ["search", "fetch_document", "answer", "search_tools"]
    message = client.post("/tools/call", json={"id": "c1", "type": "function", "function": {
        "name": "search", "arguments": '{"query": "tabby cat", "k": 2}'}}).json()
    assert message["tool_call_id"] == "c1" and "cat-card" in message["content"]
    refused = client.post("/tools/call", json={"name": "search", "arguments": '{"k": 0}'})
    assert refused.status_code == 200 and "missing required argument" in refused.text
    found = client.get("/tools/search", params={"q": "look up one document by its id"}).json()
    assert found["tools"][0]["name"] == "nyx_get_document"


def test_bounded_concurrent_load(client: httpx.Client, http_server: RunningServer,
                                 request: pytest.FixtureRequest) -> None:
    """200 searches, 8 at a time, loopback only; stops by itself."""
    queries = ["a cup of coffee", "rocket launch", "tabby cat", "library opening hours",
               "refund policy", "night trains in Europe", "tomato plants", "wet floor"]
    total, concurrency = 200, 8
    limits = httpx.Limits(max_connections=concurrency)

    with httpx.Client(base_url=http_server.url, headers={"X-API-Key": API_KEY}, timeout=30,
                      limits=limits) as session:
        def one(n: int) -> float:
            start = time.perf_counter()
            reply = session.get("/search", params={"q": queries[n % len(queries)], "k": 5})
            assert reply.status_code == 200
            return time.perf_counter() - start

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = sorted(pool.map(one, range(total)))
        elapsed = time.perf_counter() - started
    rate = total / elapsed
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(0.99 * (total - 1))] * 1000
    line = (f"load test: {total} requests, {concurrency} concurrent: {rate:.1f} req/s, "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    report(request, line)
    assert len(latencies) == total and rate > 1


def test_per_request_mode_group_modality_and_min_score(client: httpx.Client) -> None:
    # A text query with modality=image searches among the images (it used to return nothing
    # when text hits filled the top of the ranking).
    images = client.get("/search", params={"q": "opening hours of the library", "k": 3,
                                           "modality": "image"}).json()["results"]
    assert images and all(r["images"] for r in images)
    assert images[0]["id"] == "signs/library-hours.png"
    lexical = client.post("/search", json={"query": "espresso", "k": 5, "mode": "lexical"})
    assert lexical.status_code == 200, lexical.text
    assert all(r["dense_score"] is None for r in lexical.json()["results"])
    dense = client.get("/search", params={"q": "espresso", "mode": "dense"}).json()["results"]
    assert all(r["lexical_score"] is None for r in dense)
    # min_score compares the relevance estimate, which follows the dense score in dense mode
    top = dense[0]["relevance"] - 1e-6
    assert top > dense[1]["relevance"]
    cut = client.post("/search", json={"query": "espresso", "mode": "dense", "min_score": top})
    assert [r["id"] for r in cut.json()["results"]] == [dense[0]["id"]]
    chunks = client.get("/search", params={"q": "espresso", "group": "chunk"})
    assert chunks.status_code == 200
    bad = client.post("/search", json={"query": "espresso", "mode": "fuzzy"})
    assert bad.status_code == 422 and "mode" in bad.json()["error"]


def test_rerank_per_request(client: httpx.Client) -> None:
    """``rerank=N`` re-scores the top N with the cross-encoder: a sorted list on its scale
    (images included), the fused score kept as ``first_stage_score``; out of range is a 422."""
    plain = client.get("/search", params={"q": "a cup of coffee", "k": 5}).json()["results"]
    reranked = client.get("/search", params={"q": "a cup of coffee", "k": 5,
                                             "rerank": 10}).json()["results"]
    scores = [r["score"] for r in reranked]
    assert scores == sorted(scores, reverse=True) and len(reranked) == 5
    assert all(r["first_stage_score"] is not None for r in reranked)
    assert [r["score"] for r in plain] != scores  # logits, not fused scores in [0, 1]
    for bad in (0, 101, "many"):
        refused = client.get("/search", params={"q": "coffee", "rerank": bad})
        assert refused.status_code == 422 and "rerank" in refused.json()["error"]


def test_rerank_scope_per_request(client: httpx.Client) -> None:
    """``rerank_scope=unsure``: the demo's coffee query is confident (its best hit leads
    clearly), so only its top 3 are re-scored and the rest keep their first-stage order below
    them; ``all`` re-scores every hit; an unknown scope is a 422 naming the choices."""
    query = {"q": "a cup of coffee", "k": 5, "rerank": 10}
    plain = client.get("/search", params={"q": "a cup of coffee", "k": 5}).json()["results"]
    unsure = client.get("/search", params={**query, "rerank_scope": "unsure"}).json()["results"]
    assert [r["rerank_score"] is not None for r in unsure] == [True] * 3 + [False] * 2
    assert [r["id"] for r in unsure[3:]] == [r["id"] for r in plain
                                             if r["id"] not in {u["id"] for u in unsure[:3]}][:2]
    every = client.post("/search", json={"query": "a cup of coffee", "k": 5, "rerank": 10,
                                         "rerank_scope": "all"}).json()["results"]
    assert all(r["rerank_score"] is not None for r in every)
    refused = client.get("/search", params={**query, "rerank_scope": "some"})
    assert refused.status_code == 422 and "rerank_scope" in refused.json()["error"]
