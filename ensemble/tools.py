"""Agent tools over a Nyx retriever: search, fetch, answer and tool search, defined once.

The same definitions serve OpenAI function calling (:meth:`SearchTool.tool_schemas`), the MCP
server and the HTTP API in :mod:`ensemble.server`.

>>> tool = SearchTool(NyxRetriever(retriever=my_retriever))
>>> tool.search("who founded Warsaw University of Technology", k=3)
{'query': ..., 'results': [{'id': ..., 'score': ..., 'snippet': ..., 'images': [...]}, ...]}
>>> tool.tool_schemas()          # pass as `tools=` to an OpenAI-compatible chat API
>>> tool.dispatch({"id": "call_1", "type": "function",
...                "function": {"name": "search", "arguments": '{"query": "Warsaw"}'}})
{'role': 'tool', 'tool_call_id': 'call_1', 'name': 'search', 'content': '{"query": ...}'}

:meth:`SearchTool.dispatch` never raises on a bad call: unknown tools, malformed JSON,
missing, unknown or out-of-range arguments come back as ``{"error": ..., "code": ...}`` tool
messages that the model can read and correct. :meth:`SearchTool.call` raises
:class:`ToolCallError` instead, for servers that map ``code`` to a status.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ensemble.errors import GeneratorError, ToolError
from ensemble.prompts import truncate_words
from ensemble.retrievers.base import RetrieverModule
from ensemble.types import RetrievedDoc

logger = logging.getLogger(__name__)

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "MAX_K", "MAX_QUERY_CHARS", "MODALITIES",
           "TOOL_NAMES", "Answerer", "SearchTool", "ToolCallError", "ToolCatalogLike",
           "check_arguments", "decode_image", "tool_definitions"]


MODALITIES = ("any", "text", "image")
TOOL_NAMES = ("search", "fetch_document", "answer", "search_tools")
#: Bounds every interface enforces (function calling, MCP, HTTP).
MAX_K = 50
MAX_QUERY_CHARS = 2_000
MAX_IMAGE_BYTES = 10 * 2**20
MAX_IMAGE_PIXELS = 25_000_000


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
                      "modality": {"type": "string", "enum": list(MODALITIES),
                                   "default": "any", "description":
                                   "Only documents with text, with images, or any."},
                      "filter": {"type": ["object", "null"], "default": None, "description":
                                 'Metadata filter, ANDed over keys: {"topic": "shop"}, '
                                 '{"topic": {"any": ["a", "b"]}}, {"year": {"gte": 2020}}.'},
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
    if isinstance(value, str) and len(value) > spec.get("maxLength", len(value)):
        return [f"{key!r} is {len(value):,} characters, more than {spec['maxLength']:,}"]
    if isinstance(value, int) and not isinstance(value, bool) and not (
            spec.get("minimum", value) <= value <= spec.get("maximum", value)):
        return [f"{key!r} must be from {spec['minimum']} to {spec['maximum']}, got {value}"]
    return []


class Answerer(Protocol):
    """A pipeline or ensemble: ``run(question)`` returns an object with ``.text`` and,
    optionally, ``.confidence`` and ``.entropy`` (or ``.mean_entropy``)."""

    def run(self, question: str) -> Any: ...


class ToolCatalogLike(Protocol):
    """An index of tool descriptions (:class:`ensemble.server.catalog.ToolCatalog`)."""

    def search(self, query: str, k: int = 5) -> list[dict[str, Any]]: ...

    def count(self) -> int: ...


class SearchTool:
    """``search``, ``fetch_document``, ``answer`` and ``search_tools`` over a retriever module
    or a Nyx ``Retriever``.

    ``answerer`` runs ``answer`` (any object with ``run(question)``); ``catalog`` serves
    ``search_tools``; ``media_url(doc_id, n)`` gives the URL of a document's n-th image when
    a server publishes them. Without an answerer or catalogue those tools say so.
    """

    def __init__(self, retriever: RetrieverModule | Any, *, snippet_words: int = 60,
                 max_k: int = MAX_K, answerer: Answerer | None = None,
                 catalog: ToolCatalogLike | None = None,
                 media_url: Callable[[str, int], str] | None = None) -> None:
        if not isinstance(retriever, RetrieverModule):
            from ensemble.retrievers.nyx_retriever import NyxRetriever

            retriever = NyxRetriever(retriever=retriever)
        if not 1 <= max_k <= MAX_K:
            raise ValueError(f"max_k must be from 1 to {MAX_K}, got {max_k}")
        self.retriever = retriever
        self.snippet_words = snippet_words
        self.max_k = max_k
        self.answerer = answerer
        self.catalog = catalog
        self.media_url = media_url
        self._definitions = {d["function"]["name"]: d for d in tool_definitions(max_k)}
        # One retriever serves every request thread; its store and encoder are not re-entrant.
        self._lock = threading.RLock()

    def _check(self, name: str, arguments: dict[str, Any], has_image: bool = False) -> None:
        """The Python API validates like a tool call: one set of rules, one set of messages."""
        check_arguments(arguments, self._definitions[name])
        field = next(k for k in ("query", "question", "id") if k in arguments)
        if not arguments[field].strip() and not has_image:
            raise ToolCallError(f"{field} must be a non-empty string" + (
                " (or give an image)" if name == "search" else ""))

    # -- the tools ------------------------------------------------------------------------

    def search(self, query: str = "", k: int = 5, modality: str = "any",
               filter: dict[str, Any] | None = None, image: Any = None) -> dict[str, Any]:
        """The top ``k`` documents for ``query`` (and/or an ``image``: bytes, a PIL image or
        base64 text): ids, scores, snippets, image references; a ``confidence`` per hit for
        ensembles of retrievers."""
        arguments = {"query": query, "k": k, "modality": modality, "filter": filter}
        if isinstance(image, str):
            arguments["image"] = image
        self._check("search", arguments, has_image=image is not None)
        fetch = k if modality == "any" else min(self.max_k * 5, k * 5)
        try:
            with self._lock:
                found = (self._image_search(query, image, fetch, filter) if image is not None
                         else self.retriever.retrieve(query, fetch, filter or None))
                docs = [d for d in found if _has_modality(d, modality)][:k]
                confidence = self._ensemble_confidence(query, k, filter, docs, image)
        except ToolError:
            raise
        except ValueError as error:  # e.g. a malformed metadata filter
            raise ToolCallError(str(error)) from error
        results = [self._result(d) for d in docs]
        out: dict[str, Any] = {"query": query, "results": results}
        if confidence is not None:
            for row, value in zip(results, confidence):
                row["confidence"] = round(value, 4)
            out["confidence"] = results[0]["confidence"] if results else 0.0
        return out

    def _image_search(self, query: str, image: Any, n: int,
                      filter: dict[str, Any] | None) -> list[RetrievedDoc]:
        from ensemble.retrievers.nyx_retriever import NyxRetriever, to_retrieved_doc
        from nyx import ImagePart, Item

        if not isinstance(self.retriever, NyxRetriever):
            raise ToolCallError(f"{type(self.retriever).__name__} searches text only; image "
                                "queries need a Nyx retriever", "unsupported")
        picture = decode_image(image)
        parts: list[Any] = [query, ImagePart(picture)] if query.strip() else [ImagePart(picture)]
        hits = self.retriever.load().search(Item(parts), k=n, filter=filter or None,
                                            mode=self.retriever.mode if query.strip() else "dense")
        return [to_retrieved_doc(h) for h in hits]

    def _ensemble_confidence(self, query: str, k: int, filter: dict[str, Any] | None,
                             docs: list[RetrievedDoc], image: Any) -> list[float] | None:
        """For an ensemble of retrievers: the share of members that rank each hit in their
        own top candidates (a member's stated ``confidence`` in metadata wins)."""
        stated = [d.metadata.get("confidence") for d in docs]
        if docs and all(isinstance(c, (int, float)) for c in stated):
            return [float(c) for c in stated]  # type: ignore[arg-type]
        members = getattr(self.retriever, "retrievers", None)
        if not members or image is not None:
            return None
        n = max(k, int(getattr(self.retriever, "candidates", k)))
        tops = [{d.id for d in m.retrieve(query, n, filter or None)} for m in members]
        return [sum(d.id in top for top in tops) / len(tops) for d in docs]

    def _result(self, doc: RetrievedDoc) -> dict[str, Any]:
        row = {"id": doc.id, "score": round(float(doc.score), 6),
               "snippet": truncate_words(doc.text, self.snippet_words),
               "images": list(doc.images), "modality": _modality(doc),
               "metadata": _jsonable(doc.metadata)}
        if self.media_url is not None:
            row["image_urls"] = [self.media_url(doc.id, n) for n in range(len(doc.images))]
        return row

    def fetch_document(self, id: str) -> dict[str, Any]:
        """One document by id: full text, image references and metadata."""
        self._check("fetch_document", {"id": id})
        with self._lock:
            doc = self.retriever.fetch(id)
        if doc is None:
            raise ToolCallError(f"no document with id {id!r}; use an id returned by search",
                                "not_found")
        row = {"id": doc.id, "text": doc.text, "images": list(doc.images),
               "modality": _modality(doc), "metadata": _jsonable(doc.metadata)}
        if self.media_url is not None:
            row["image_urls"] = [self.media_url(doc.id, n) for n in range(len(doc.images))]
        return row

    def answer(self, question: str) -> dict[str, Any]:
        """Run the configured pipeline or ensemble on ``question``."""
        self._check("answer", {"question": question})
        if self.answerer is None:
            raise ToolCallError(
                "no answering pipeline is configured: start the server with --pipeline "
                "CONFIG.yaml (an ensemble config) or pass SearchTool(answerer=...); use the "
                "search tool and answer from its results meanwhile", "not_configured")
        try:
            result = self.answerer.run(question)
        except GeneratorError as error:
            raise ToolCallError(f"the answering pipeline failed: {error}", "unavailable") from error
        entropy = getattr(result, "entropy", None)
        if entropy is None:
            entropy = getattr(result, "mean_entropy", None)
        return {"question": question, "answer": str(result.text),
                "confidence": _number(getattr(result, "confidence", None)),
                "entropy": _number(entropy), "system": str(getattr(result, "system", "") or ""),
                "documents": [{"id": d.id, "score": round(float(d.score), 6)}
                              for d in getattr(result, "documents", None) or []]}

    def search_tools(self, query: str, k: int = 5) -> dict[str, Any]:
        """The tools in the configured catalogue that best match a task description."""
        self._check("search_tools", {"query": query, "k": k})
        if self.catalog is None:
            raise ToolCallError("no tool catalogue is configured: start the server with "
                                "--tools CATALOGUE (OpenAI tools, OpenAPI or ToolBench JSON)",
                                "not_configured")
        with self._lock:
            return {"query": query, "tools": self.catalog.search(query, k)}

    # -- function calling -----------------------------------------------------------------

    def tool_schemas(self, names: tuple[str, ...] | list[str] | None = None
                     ) -> list[dict[str, Any]]:
        """The tools in OpenAI function-calling format (``tools=`` of a chat request)."""
        wanted = TOOL_NAMES if names is None else tuple(names)
        unknown = sorted(set(wanted) - set(TOOL_NAMES))
        if unknown:
            raise ValueError(f"unknown tool name(s) {unknown}; choose from {list(TOOL_NAMES)}")
        return [json.loads(json.dumps(d)) for n, d in self._definitions.items() if n in wanted]

    def call(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``arguments`` against the tool's schema and run it; raises ToolCallError."""
        if name not in self._definitions:
            raise ToolCallError(f"unknown tool {name!r}; available: {', '.join(TOOL_NAMES)}",
                                "unknown_tool")
        args = check_arguments(dict(arguments), self._definitions[name])
        method: Callable[..., dict[str, Any]] = getattr(self, name)
        return method(**args)

    def dispatch(self, tool_call: Mapping[str, Any]) -> dict[str, Any]:
        """Execute an OpenAI-style tool call; returns a ``role: tool`` message.

        Accepts ``{"id", "type": "function", "function": {"name", "arguments"}}`` or the bare
        ``{"name", "arguments"}``; ``arguments`` is a JSON string or an object.
        """
        call_id = str(tool_call.get("id", "")) if isinstance(tool_call, Mapping) else ""
        name = ""
        try:
            name, arguments = _parse_call(tool_call)
            result = self.call(name, arguments)
        except ToolError as error:
            logger.info("tool call %s failed: %s", name or "?", error)
            if not isinstance(error, ToolCallError):
                error = ToolCallError(str(error))
            result = error.to_dict(name)
        except Exception as error:  # a model must always get an answer it can read
            logger.exception("tool call %s raised", name or "?")
            result = {"error": f"{type(error).__name__}: {error}", "code": "internal_error",
                      "tool": name}
        return {"role": "tool", "tool_call_id": call_id, "name": name,
                "content": json.dumps(result, ensure_ascii=False)}


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


def _parse_call(tool_call: Any) -> tuple[str, dict[str, Any]]:
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


def _modality(doc: RetrievedDoc) -> str:
    if doc.images:
        return "interleaved" if doc.text.strip() else "image"
    return "text"


def _has_modality(doc: RetrievedDoc, modality: str) -> bool:
    if modality == "image":
        return bool(doc.images)
    if modality == "text":
        return bool(doc.text.strip())
    return True


def _number(value: Any) -> float | None:
    try:
        return None if value is None else round(float(value), 6)
    except (TypeError, ValueError):
        return None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
