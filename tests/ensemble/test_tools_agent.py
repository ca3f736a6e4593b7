"""The agent tools over a real mixed-modal index of the demo corpus: image queries and their
limits, structured error codes, media URLs, answer, search_tools and ensemble confidence.
(Schema and validation basics over BM25 are in test_tools.py.)"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from nyx.ensemble.tools import MAX_K, MAX_QUERY_CHARS, TOOL_NAMES, SearchTool, ToolCallError
from nyx.results import SearchResult

pytest_plugins = ("tests.serve.test_server_support",)
pytestmark = pytest.mark.usefixtures("single_thread")

ESPRESSO = Path(__file__).resolve().parents[2] / "nyx/data/demo_corpus/photos/espresso.jpg"


def call(tool: SearchTool, name: str, **arguments: Any) -> dict[str, Any]:
    message = tool.dispatch({"id": "call_1", "type": "function",
                             "function": {"name": name, "arguments": json.dumps(arguments)}})
    assert message["role"] == "tool" and message["tool_call_id"] == "call_1"
    return json.loads(message["content"])


def test_every_tool_has_a_strict_schema(demo_tool: SearchTool) -> None:
    schemas = demo_tool.tool_schemas()
    assert [s["function"]["name"] for s in schemas] == list(TOOL_NAMES)
    for schema in schemas:
        params = schema["function"]["parameters"]
        assert params["additionalProperties"] is False and schema["function"]["description"]
        assert set(params["required"]) <= set(params["properties"])
    search = schemas[0]["function"]["parameters"]["properties"]
    assert (search["k"]["minimum"], search["k"]["maximum"]) == (1, MAX_K)
    assert search["query"]["maxLength"] == MAX_QUERY_CHARS
    with pytest.raises(ValueError, match="unknown tool"):
        demo_tool.tool_schemas(["nope"])


def test_search_finds_coffee_with_snippets_images_and_urls(demo_tool: SearchTool) -> None:
    out = call(demo_tool, "search", query="a cup of coffee", k=3)
    ids = [r["id"] for r in out["results"]]
    assert {"photos/espresso.jpg", "notes/coffee.md#0"} & set(ids)
    top = out["results"][0]
    assert top["snippet"] and top["modality"] in ("text", "image", "interleaved")
    # the image as stored inside the index (content-addressed), never a path on the server
    assert top["images"][0].endswith(".jpg") and "/" not in top["images"][0]
    assert top["image_urls"] == ["/media/0/notes/coffee.md%230"]
    assert "confidence" not in out  # one retriever, not an ensemble


@pytest.mark.parametrize(("arguments", "code", "expected"), [
    ({"query": "x", "k": 1000}, "invalid_arguments", "'k' must be from 1 to 50, got 1000"),
    ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "invalid_arguments", "more than 2,000"),
    ({"query": "x", "k": 0, "colour": "red"}, "invalid_arguments", "['colour']; allowed"),
    ({"query": "x", "filter": {"year": {"near": 3}}}, "invalid_arguments", "operator 'near'"),
])
def test_errors_carry_a_code(demo_tool: SearchTool, arguments: dict[str, Any], code: str,
                             expected: str) -> None:
    out = call(demo_tool, "search", **arguments)
    assert out["code"] == code and out["tool"] == "search" and expected in out["error"]


def test_filters_and_modality(demo_tool: SearchTool) -> None:
    shop = call(demo_tool, "search", query="delivery and refunds", filter={"topic": "shop"})
    assert {r["id"] for r in shop["results"]} == {"faq-shipping", "faq-returns"}
    recent = call(demo_tool, "search", query="orders", filter={"year": {"gte": 2025}})
    assert [r["id"] for r in recent["results"]] == ["faq-shipping"]
    pictures = call(demo_tool, "search", query="space rocket", k=4, modality="image")
    assert len(pictures["results"]) == 4 and all(r["images"] for r in pictures["results"])


def test_image_query_as_bytes_and_base64(demo_tool: SearchTool) -> None:
    data = ESPRESSO.read_bytes()
    assert demo_tool.search(image=data, k=1)["results"][0]["id"] == "photos/espresso.jpg"
    out = call(demo_tool, "search", query="", image=base64.b64encode(data).decode(), k=2)
    assert out["results"][0]["id"] == "photos/espresso.jpg"
    junk = call(demo_tool, "search", query="", image=base64.b64encode(b"GIF89a junk").decode())
    assert junk["code"] == "invalid_image" and "not an image" in junk["error"]
    assert call(demo_tool, "search", query="", image="%%%")["code"] == "invalid_image"


def test_image_limits(demo_tool: SearchTool) -> None:
    buffer = io.BytesIO()
    Image.new("L", (6000, 5000)).save(buffer, "PNG")  # a small file of 30 megapixels
    with pytest.raises(ToolCallError, match="pixels") as caught:
        demo_tool.search(image=buffer.getvalue())
    assert caught.value.code == "too_large"
    with pytest.raises(ToolCallError, match="the limit is") as caught:
        demo_tool.search(image=b"\0" * (11 * 2**20))
    assert caught.value.code == "too_large"


def test_fetch_document(demo_tool: SearchTool) -> None:
    doc = call(demo_tool, "fetch_document", id="cat-card")
    assert doc["text"] == "Chelsea, a tabby cat, looking at the camera."
    assert doc["metadata"]["topic"] == "pets" and doc["image_urls"] == ["/media/0/cat-card"]
    missing = call(demo_tool, "fetch_document", id="../../etc/passwd")
    assert missing["code"] == "not_found" and "use an id returned by search" in missing["error"]


@dataclass
class FakeAnswer:
    text: str
    confidence: float = 0.75
    entropy: float = 0.4
    documents: list[SearchResult] = field(default_factory=list)


class FakeEnsemble:
    def run(self, question: str) -> FakeAnswer:
        return FakeAnswer("espresso", documents=[SearchResult("notes/coffee.md#0", 0.9)])


def test_answer_needs_a_pipeline_and_runs_one(demo_retriever: Any) -> None:
    bare = SearchTool(demo_retriever)
    out = call(bare, "answer", question="What coffee is in the photo?")
    assert out["code"] == "not_configured" and "--pipeline" in out["error"]
    tool = SearchTool(demo_retriever, answerer=FakeEnsemble())
    out = call(tool, "answer", question="What coffee is in the photo?")
    assert out["answer"] == "espresso" and out["confidence"] == 0.75 and out["entropy"] == 0.4
    assert out["documents"] == [{"id": "notes/coffee.md#0", "score": 0.9}]
    assert call(bare, "search_tools", query="index a folder")["code"] == "not_configured"


def test_search_tools_finds_nyx_commands(demo_tool: SearchTool) -> None:
    out = call(demo_tool, "search_tools", query="build an index from a folder of files", k=3)
    assert out["tools"][0]["name"] == "nyx-index build"
    assert out["tools"][0]["schema"]["function"]["name"] == "nyx-index_build"


def test_ensemble_confidence_is_member_agreement() -> None:
    from nyx.ensemble.retrievers.base import RetrieverModule
    from nyx.ensemble.retrievers.fused import FusedRetriever

    class Fixed(RetrieverModule):
        def __init__(self, ids: list[str]) -> None:
            super().__init__()
            self.ids = ids

        @property
        def cache_id(self) -> str:
            return ",".join(self.ids)

        def _retrieve(self, query: str, k: int, filter: Any) -> list[SearchResult]:
            return [SearchResult(i, 1.0 / (n + 1), text=f"text {i}")
                    for n, i in enumerate(self.ids[:k])]

    fused = FusedRetriever([Fixed(["a", "b"]), Fixed(["a", "c"])], candidates=2)
    out = SearchTool(fused).search("anything", k=3)
    assert {r["id"]: r["confidence"] for r in out["results"]} == {"a": 1.0, "b": 0.5, "c": 0.5}
    assert out["confidence"] == 1.0
    with pytest.raises(ToolCallError, match="text only") as caught:
        SearchTool(fused).search(image=ESPRESSO.read_bytes())
    assert caught.value.code == "unsupported"
