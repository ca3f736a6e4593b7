"""The search tool: results, schemas, and tool-call validation errors returned as tool output."""

from __future__ import annotations

import json

import pytest

from nyx.ensemble import SearchTool, ToolError


@pytest.fixture(scope="module")
def tool(bm25):
    return SearchTool(bm25, snippet_words=12)


def _call(tool, name, arguments, call_id="call_1"):
    message = tool.dispatch({"id": call_id, "type": "function",
                             "function": {"name": name, "arguments": arguments}})
    assert message["role"] == "tool" and message["tool_call_id"] == call_id
    return json.loads(message["content"])


def test_search_returns_ids_scores_snippets_images(tool):
    result = tool.search("Nikola Tesla born year", k=3)
    assert result["query"] == "Nikola Tesla born year"
    assert len(result["results"]) == 3
    top = result["results"][0]
    assert {"id", "score", "snippet", "images", "metadata"} <= set(top)
    assert top["id"].startswith("3-")  # the Nikola Tesla article
    assert len(top["snippet"].split()) <= 13
    assert top["images"] == [] and top["metadata"]["title"] == "Nikola Tesla"
    scores = [r["score"] for r in result["results"]]
    assert scores == sorted(scores, reverse=True)


def test_search_filter_and_modality(tool):
    result = tool.search("university", k=5, filter={"title": "Warsaw"})
    assert result["results"] and all(r["metadata"]["title"] == "Warsaw"
                                     for r in result["results"])
    assert tool.search("university", k=5, modality="image")["results"] == []


def test_search_filter_as_expressions(tool):
    """The tool's ``filter`` takes the expression grammar too, as a tool call or directly."""
    as_dict = tool.search("university", k=5, filter={"title": {"any": ["Warsaw", "Paris"]}})
    as_text = tool.search("university", k=5, filter="title=Warsaw|Paris")
    assert as_dict == as_text and as_text["results"]
    called = _call(tool, "search", json.dumps({"query": "university", "k": 5,
                                               "filter": "title=Warsaw|Paris"}))
    assert called == as_text
    schema = next(d for d in tool.tool_schemas() if d["function"]["name"] == "search")
    spec = schema["function"]["parameters"]["properties"]["filter"]
    assert spec["type"] == ["object", "string", "null"] and "year>=2020" in spec["description"]


def test_fetch_document(tool, corpus):
    doc = tool.fetch_document("3-0")
    assert doc["text"] == corpus.docs["3-0"]["text"]
    with pytest.raises(ToolError, match="no document with id"):
        tool.fetch_document("nope")


def test_schemas_are_openai_function_tools(tool):
    schemas = tool.tool_schemas()
    assert [s["function"]["name"] for s in schemas][:2] == ["search", "fetch_document"]
    search = schemas[0]
    assert search["type"] == "function"
    params = search["function"]["parameters"]
    assert params["required"] == ["query"]
    assert params["properties"]["modality"]["enum"] == ["any", "text", "image"]
    json.dumps(schemas)  # serialisable as is
    schemas[0]["function"]["name"] = "changed"  # callers get a copy
    assert tool.tool_schemas()[0]["function"]["name"] == "search"


def test_dispatch_executes_valid_calls(tool):
    result = _call(tool, "search", '{"query": "Normandy country", "k": 2}')
    assert len(result["results"]) == 2
    bare = tool.dispatch({"name": "fetch_document", "arguments": {"id": "3-0"}})
    assert json.loads(bare["content"])["id"] == "3-0"


@pytest.mark.parametrize(("name", "arguments", "message"), [
    ("search", '{"query": "x"', "not valid JSON"),
    ("search", "[1, 2]", "must be a JSON object"),
    ("search", "{}", "missing required argument"),
    ("search", '{"query": 5}', "'query' must be string"),
    ("search", '{"query": "x", "k": "3"}', "'k' must be integer"),
    ("search", '{"query": "x", "k": true}', "'k' must be integer"),
    ("search", '{"query": "x", "k": 0}', "must be from 1 to"),
    ("search", '{"query": "x", "k": 99}', "must be from 1 to"),
    ("search", '{"query": "x", "modality": "audio"}', "must be one of"),
    ("search", '{"query": "x", "filter": 5}', "'filter' must be object or string or null"),
    ("search", '{"query": "x", "filter": "title=>X"}', "unknown operator '=>'"),
    ("search", '{"query": "x", "filter": "title"}', "'title': no operator"),
    ("search", '{"query": "x", "limit": 3}', "unknown argument(s) ['limit']"),
    ("search", '{"query": "   "}', "non-empty"),
    ("fetch_document", '{"id": "missing"}', "no document with id 'missing'"),
    ("delete_everything", "{}", "unknown tool 'delete_everything'"),
])
def test_dispatch_returns_validation_errors_as_tool_errors(tool, name, arguments, message):
    result = _call(tool, name, arguments)
    assert "results" not in result
    assert message in result["error"]


def test_dispatch_malformed_call_objects(tool):
    assert "no function name" in json.loads(tool.dispatch({"function": {}})["content"])["error"]
    assert "must be an object" in json.loads(tool.dispatch("search")["content"])["error"]


def test_min_score_and_mode_on_a_text_only_module(tool):
    hits = tool.search("Nikola Tesla born year", k=3)["results"]
    kept = tool.search("Nikola Tesla born year", k=3, min_score=hits[0]["score"] - 1e-5)["results"]
    assert [r["id"] for r in kept] == [hits[0]["id"]]
    with pytest.raises(ToolError, match="has one search mode"):
        tool.search("Tesla", mode="dense")
    reply = _call(tool, "search", {"query": "Tesla", "group": "pages"})
    assert reply["code"] == "invalid_arguments" and "'group' must be one of" in reply["error"]
