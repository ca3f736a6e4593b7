"""The agent tools' contract: names, bounds, JSON schemas, argument checks and input decoding.

Shared by :class:`~nyx.ensemble.tools.SearchTool` (function calling), the MCP server and the
HTTP API, so that every interface accepts and refuses the same calls with the same messages.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from nyx.ensemble.errors import ToolError
from nyx.search_options import GROUPS, MAX_RERANK, MODALITIES, MODES, option_schema

__all__ = ["FILTER_HELP", "GROUPS", "MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "MAX_K",
           "MAX_QUERY_CHARS", "MAX_RERANK", "MODALITIES", "MODES", "TOOL_NAMES", "ToolCallError",
           "check_arguments", "decode_image", "parse_call", "search_option_properties",
           "tool_definitions"]


TOOL_NAMES = ("search", "fetch_document", "answer", "search_tools")
#: Bounds every interface enforces (function calling, MCP, HTTP).
MAX_K = 50
MAX_QUERY_CHARS = 2_000
MAX_IMAGE_BYTES = 10 * 2**20
MAX_IMAGE_PIXELS = 25_000_000
#: The ``filter`` argument, in the one filter grammar (the nyx.indexes.filters docstring).
FILTER_HELP = ('Metadata filter, ANDed over keys. An object: {"topic": "shop"}, '
               '{"topic": {"any": ["a", "b"]}}, {"year": {"gte": 2020}}, '
               '{"source": {"glob": "doc/*"}} or {"source": {"prefix": "doc/"}}. Or a string '
               'of expressions separated by ";": "topic=shop", "topic=a|b", "year>=2020" '
               '(also >, <, <=), "source=doc/*" (glob: * any text, ? one character; quote a '
               'value to keep it literal). A field no document has is an error.')
#: Arguments (a metadata filter) nested deeper than this are refused before any use.
MAX_ARGUMENT_DEPTH = 32


class ToolCallError(ToolError):
    """A tool call that failed, with a machine-readable ``code``: ``invalid_arguments``,
    ``unknown_tool``, ``not_found``, ``not_configured``, ``invalid_image``, ``too_large``,
    ``unsupported``, ``unavailable`` or ``internal_error``."""

    def __init__(self, message: str, code: str = "invalid_arguments") -> None:
        super().__init__(message)
        self.code = code

    def to_dict(self, tool: str = "") -> dict[str, Any]:
        return {"error": str(self), "code": self.code, "tool": tool}


def _function(name: str, description: str, properties: dict[str, Any],
              required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required,
                       "additionalProperties": False}}}


def search_option_properties() -> dict[str, Any]:
    """The search options (:class:`nyx.SearchOptions`) as tool arguments: an option without a
    default may be null (a choice among names then has null among its choices too)."""
    out = {}
    for name, spec in option_schema().items():
        if "default" not in spec:
            spec = {**spec, "type": [spec["type"], "null"], "default": None}
            if "enum" in spec:
                spec["enum"] = [*spec["enum"], None]
        out[name] = spec
    return out


def tool_definitions(max_k: int = MAX_K) -> list[dict[str, Any]]:
    """Every tool in OpenAI function-calling format; MCP and HTTP use the same schemas."""
    query = {"type": "string", "maxLength": MAX_QUERY_CHARS}
    k = {"type": "integer", "minimum": 1, "maximum": max_k, "default": 5}
    return [
        _function("search", "Search the document collection (text, images and documents that "
                  "mix both). Returns the best matching documents with ids, scores, text "
                  "snippets (including text read from images) and image references.", {
                      "query": {**query, "description": "What to look for, in words."},
                      "k": {**k, "description": "How many documents to return."},
                      **search_option_properties(),
                      "filter": {"type": ["object", "string", "null"], "default": None,
                                 "maxLength": MAX_QUERY_CHARS, "description": FILTER_HELP},
                      "image": {"type": "string", "maxLength": MAX_IMAGE_BYTES * 4 // 3 + 4,
                                "description": "Optional base64-encoded query image (PNG, "
                                "JPEG, WebP); query text may then be empty."}}, ["query"]),
        _function("fetch_document", "Fetch one document's full text, images and metadata by "
                  "id.", {"id": {"type": "string", "maxLength": MAX_QUERY_CHARS,
                                 "description": "A document id from search."}}, ["id"]),
        _function("answer", "Answer a question with the configured retrieval-augmented "
                  "pipeline or ensemble; returns the answer, a confidence in [0, 1] and the "
                  "token entropy where the pipeline reports them, and the documents used.",
                  {"question": {**query, "description": "The question to answer."}},
                  ["question"]),
        _function("search_tools", "Find the tools (API operations, commands) in the tool "
                  "catalogue that can do a task; returns names, descriptions and schemas.", {
                      "query": {**query, "description": "The task, in words."},
                      "k": {**k, "description": "How many tools to return."}}, ["query"]),
    ]


_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": (int, float),
                               "boolean": bool, "object": dict, "array": list,
                               "null": type(None)}


def check_arguments(arguments: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    """Validate arguments against a tool definition (required, types, enums, bounds, no
    extras); raises ToolCallError listing every problem. Returns the arguments given."""
    params, name = definition["function"]["parameters"], definition["function"]["name"]
    problems = [f"missing required argument {p!r}" for p in params["required"]
                if p not in arguments]
    extra = sorted(set(arguments) - set(params["properties"]))
    if extra:
        problems.append(f"unknown argument(s) {extra}; allowed: {sorted(params['properties'])}")
    for key, value in arguments.items():
        spec = params["properties"].get(key)
        if spec is not None:
            problems += _check_value(key, value, spec)
    if problems:
        raise ToolCallError(f"invalid arguments for {name}: " + "; ".join(problems))
    return arguments


def _check_value(key: str, value: Any, spec: dict[str, Any]) -> list[str]:
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    if not any(isinstance(value, _JSON_TYPES[t]) and not (t in ("integer", "number") and
                                                          isinstance(value, bool))
               for t in types):
        return [f"{key!r} must be {' or '.join(types)}, got {type(value).__name__}"]
    if "enum" in spec and value not in spec["enum"]:
        return [f"{key!r} must be one of {spec['enum']}, got {value!r}"]
    if isinstance(value, (dict, list)) and _depth(value) > MAX_ARGUMENT_DEPTH:
        return [f"{key!r} is nested more than {MAX_ARGUMENT_DEPTH} levels deep"]
    if isinstance(value, str) and len(value) > spec.get("maxLength", len(value)):
        return [f"{key!r} is {len(value):,} characters, more than {spec['maxLength']:,}"]
    if isinstance(value, int) and not isinstance(value, bool) and not (
            spec.get("minimum", value) <= value <= spec.get("maximum", value)):
        return [f"{key!r} must be from {spec['minimum']} to {spec['maximum']}, got {value}"]
    return []


def _depth(value: Any) -> int:
    """How deeply a JSON value nests (iteratively: a hostile value cannot overflow the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > MAX_ARGUMENT_DEPTH:
                return deepest
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest


def decode_image(image: Any) -> Any:
    """A query image as a PIL image, refused with a clear ToolCallError when it is too big,
    has too many pixels or is not an image. Accepts bytes, base64 text or a PIL image."""
    from PIL import Image

    from nyx.images import ImageLoadError, load_image

    if isinstance(image, str):
        if len(image) > MAX_IMAGE_BYTES * 4 // 3 + 4:
            raise ToolCallError(f"image is larger than {MAX_IMAGE_BYTES // 2**20} MB",
                                "too_large")
        try:
            image = base64.b64decode(image.split(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError) as error:
            raise ToolCallError(f"image is not valid base64: {error}", "invalid_image") from error
    if isinstance(image, (bytes, bytearray)) and len(image) > MAX_IMAGE_BYTES:
        raise ToolCallError(f"image is {len(image):,} bytes; the limit is "
                            f"{MAX_IMAGE_BYTES:,}: downscale or recompress it", "too_large")
    if not isinstance(image, (bytes, bytearray, Image.Image)):
        raise ToolCallError(f"image must be bytes, base64 text or a PIL image, got "
                            f"{type(image).__name__}", "invalid_image")
    try:
        return load_image(bytes(image) if not isinstance(image, Image.Image) else image,
                          max_pixels=MAX_IMAGE_PIXELS)
    except ImageLoadError as error:
        code = "too_large" if "pixels" in str(error) or "bomb" in str(error) else "invalid_image"
        raise ToolCallError(str(error).replace("<", "").replace(">", ""), code) from error


def parse_call(tool_call: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(tool_call, Mapping):
        raise ToolCallError("a tool call must be an object with a function name and arguments")
    function = tool_call.get("function", tool_call)
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise ToolCallError("the tool call has no function name")
    raw = function.get("arguments", {})
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as error:
            raise ToolCallError(f"arguments are not valid JSON: {error}") from error
    if not isinstance(raw, Mapping):
        raise ToolCallError(f"arguments must be a JSON object, got {type(raw).__name__}")
    return function["name"], dict(raw)
