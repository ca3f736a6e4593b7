"""The HTTP API serves media only from the index folder and never shows server paths."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from nyx.builder import build_index
from nyx.ensemble.retrievers.nyx_retriever import NyxRetriever
from nyx.ensemble.tools import SearchTool
from nyx.serve.app import ServerSettings, create_app, media_url
from tests.security.conftest import options


def _client(out: Path) -> TestClient:
    tool = SearchTool(NyxRetriever(index=str(out)), media_url=media_url)
    return TestClient(create_app(tool, ServerSettings(mcp=False)), base_url="http://127.0.0.1")


def test_media_is_the_indexed_copy_even_after_the_corpus_file_is_swapped(lite, tmp_path,
                                                                         outside):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    Image.new("RGB", (40, 40), "green").save(corpus / "pic.png")
    original = (corpus / "pic.png").read_bytes()
    (corpus / "rec.jsonl").write_text(json.dumps(
        {"id": "p", "text": "a green square", "images": ["pic.png"]}) + "\n")
    out = tmp_path / "idx"
    build_index(corpus, out, options(lite))
    # After indexing, the corpus file becomes a symlink to a secret text file.
    (corpus / "pic.png").unlink()
    os.symlink(outside / "secret.txt", corpus / "pic.png")
    client = _client(out)
    doc = client.get("/documents/p")
    assert doc.status_code == 200
    reply = client.get(doc.json()["image_urls"][0])
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    assert reply.content == original and b"SECRET" not in reply.content
    found = client.get("/search", params={"q": "green square"})
    for text in (doc.text, found.text):
        assert str(tmp_path) not in text and "/tmp" not in text  # no server paths
    assert doc.json()["images"][0].endswith(".png") and "/" not in doc.json()["images"][0]


def test_media_refuses_a_stored_file_swapped_for_a_symlink(lite, tmp_path, outside):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    Image.new("RGB", (40, 40), "green").save(corpus / "pic.png")
    (corpus / "rec.jsonl").write_text(json.dumps(
        {"id": "p", "text": "a green square", "images": ["pic.png"]}) + "\n")
    out = tmp_path / "idx"
    build_index(corpus, out, options(lite))
    media = next((out).glob("gen-*/media/*.png"))
    media.unlink()
    os.symlink(outside / "secret.txt", media)
    reply = _client(out).get("/media/0/p")
    assert reply.status_code == 404 and "SECRET" not in reply.text


def test_deeply_nested_json_is_a_client_error(lite, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Boats float on water.")
    out = tmp_path / "idx"
    build_index(corpus, out, options(lite))
    client = _client(out)
    deep = "[" * 100_000 + "]" * 100_000
    body = '{"query": "boats", "filter": {"a": ' + deep + "}}"
    reply = client.post("/search", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 422, reply.text
    nested: dict = {"x": 1}
    for _ in range(300):
        nested = {"$and": [nested]}
    reply = client.post("/search", json={"query": "boats", "filter": nested})
    assert reply.status_code == 422 and "nested" in reply.text
    reply = client.get("/search", params={"q": "boats", "filter": "[" * 1500})
    assert reply.status_code == 422
    shutil.rmtree(out)


def test_a_deeply_nested_tool_filter_is_refused_at_once(lite, tmp_path):
    """The MCP server and function calling share SearchTool's argument check."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Boats float on water.")
    build_index(corpus, tmp_path / "idx", options(lite))
    tool = SearchTool(NyxRetriever(index=str(tmp_path / "idx")))
    nested: dict = {"x": 1}
    for _ in range(250):
        nested = {"$or": [nested]}
    reply = tool.dispatch({"name": "search",
                           "arguments": json.dumps({"query": "boats", "filter": nested})})
    content = json.loads(reply["content"])
    assert content["code"] == "invalid_arguments" and "nested more than" in content["error"]
