"""Agent tools over a Nyx retriever: search, fetch, answer and tool search, defined once.

The same definitions serve OpenAI function calling (:meth:`SearchTool.tool_schemas`), the MCP
server and the HTTP API in :mod:`nyx.serve`.

>>> tool = SearchTool(NyxRetriever(retriever=my_retriever))
>>> tool.search("who founded Warsaw University of Technology", k=3)
{'query': ..., 'results': [{'id': ..., 'score': ..., 'snippet': ..., 'images': [...], ...}]}
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

import json
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from nyx.content import ImagePart, Item
from nyx.ensemble.errors import GeneratorError, ToolError, UnsupportedSearchError
from nyx.ensemble.prompts import truncate_words
from nyx.ensemble.retrievers.base import RetrieverModule
from nyx.ensemble.tool_schema import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_K,
    MAX_QUERY_CHARS,
    MAX_RERANK,
    MODALITIES,
    TOOL_NAMES,
    ToolCallError,
    check_arguments,
    decode_image,
    parse_call,
    tool_definitions,
)
from nyx.results import SearchResult
from nyx.search_options import SearchOptions

logger = logging.getLogger(__name__)

#: longest side of the image thumbnails MCP search results carry
THUMBNAIL_SIDE = 256

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "MAX_K", "MAX_QUERY_CHARS", "MAX_RERANK",
           "MODALITIES", "TOOL_NAMES", "Answerer", "SearchTool", "ToolCallError", "ToolCatalogLike",
           "check_arguments", "decode_image", "tool_definitions"]


class Answerer(Protocol):
    """A pipeline or ensemble: ``run(question)`` returns an object with ``.text`` and,
    optionally, ``.confidence`` and ``.entropy`` (or ``.mean_entropy``)."""

    def run(self, question: str) -> Any: ...


class ToolCatalogLike(Protocol):
    """An index of tool descriptions (:class:`nyx.serve.catalog.ToolCatalog`)."""

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
            from nyx.ensemble.retrievers.nyx_retriever import NyxRetriever

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
               filter: dict[str, Any] | str | None = None, image: Any = None,
               mode: str = "auto",
               group: str = "document", min_score: float | None = None,
               rerank: int | None = None, rerank_scope: str | None = None,
               full_text: bool = False) -> dict[str, Any]:
        """The top ``k`` documents for ``query`` (and/or an ``image``: bytes, a PIL image or
        base64 text): one row per hit (:meth:`nyx.results.SearchResult.to_dict`, with a
        ``snippet`` in place of the text, image references as file names, the hit's
        modality); a ``confidence`` per hit for ensembles of retrievers.

        ``mode`` ``auto`` uses the retriever's own setting; ``group="document"`` returns each
        file once (its best passage), ``"chunk"`` every passage; ``min_score`` drops weaker
        hits; ``modality`` searches among documents with text or with images only;
        ``rerank=N`` re-scores the top ``N`` hits with the cross-encoder (Nyx retrievers);
        ``rerank_scope="unsure"`` re-scores only the top few of a query whose first stage is
        confident, ``"all"`` every one.
        ``filter`` is a dict or a string of expressions (``"year>=2024; source=doc/*"``),
        in the grammar of :mod:`nyx.indexes.filters`. ``full_text`` adds each hit's whole
        ``text`` to its row (clients that show documents, such as ``nyx-index search
        --json``, then need no request per hit).
        """
        arguments = {"query": query, "k": k, "modality": modality, "filter": filter,
                     "mode": mode, "group": group, "min_score": min_score, "rerank": rerank,
                     "rerank_scope": rerank_scope}
        if isinstance(image, str):
            arguments["image"] = image
        self._check("search", arguments, has_image=image is not None)
        try:
            if isinstance(filter, str):  # expressions: the dict form every retriever takes
                from nyx.indexes.filters import Filter

                parsed = Filter.from_cli(filter)
                filter = parsed.to_dict() or None
            # checked against the tool schema above, so the choices hold
            options = SearchOptions(mode=mode, group=group, modality=modality,  # type: ignore[arg-type]
                                    min_score=min_score, rerank=rerank,
                                    rerank_scope=rerank_scope)  # type: ignore[arg-type]
            with self._lock:
                hits = self.retriever.retrieve(self._query(query, image), k, filter or None,
                                               options)
                confidence = self._ensemble_confidence(query, k, filter, hits, image)
        except ToolError:
            raise
        except UnsupportedSearchError as error:
            raise ToolCallError(str(error), "unsupported") from error
        except ValueError as error:  # e.g. a malformed metadata filter
            raise ToolCallError(str(error)) from error
        results = [self._result(h, full_text) for h in hits]
        out: dict[str, Any] = {"query": query, "results": results}
        if confidence is not None:
            for row, value in zip(results, confidence):
                row["confidence"] = round(value, 4)
            out["confidence"] = results[0]["confidence"] if results else 0.0
        return out

    @staticmethod
    def _query(query: str, image: Any) -> str | Item:
        """The text, or an item of the text and the decoded image."""
        if image is None:
            return query
        parts: list[Any] = [query] if query.strip() else []
        return Item([*parts, ImagePart(decode_image(image))])

    def _ensemble_confidence(self, query: str, k: int, filter: dict[str, Any] | None,
                             docs: list[SearchResult], image: Any) -> list[float] | None:
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

    def _result(self, hit: SearchResult, full_text: bool = False) -> dict[str, Any]:
        """The hit's one serialisation, extended with what a client shows: a snippet (and the
        whole text when asked), public image references and URLs, the modality."""
        row = _jsonable(hit.to_dict())
        text = row.pop("text")
        row.update(score=round(float(hit.score), 6),
                   snippet=truncate_words(text, self.snippet_words),
                   images=_public_refs(hit.images), modality=_modality(hit))
        if full_text:
            row["text"] = text
        if self.media_url is not None:
            row["image_urls"] = [self.media_url(hit.id, n) for n in range(len(hit.images))]
        return row

    def fetch_document(self, id: str) -> dict[str, Any]:
        """One document by id: full text, image references and metadata."""
        self._check("fetch_document", {"id": id})
        with self._lock:
            doc = self.retriever.fetch(id)
        if doc is None:
            raise ToolCallError(f"no document with id {id!r}; use an id returned by search",
                                "not_found")
        row = {"id": doc.id, "text": doc.text, "images": _public_refs(doc.images),
               "modality": _modality(doc), "metadata": _jsonable(doc.metadata)}
        if self.media_url is not None:
            row["image_urls"] = [self.media_url(doc.id, n) for n in range(len(doc.images))]
        return row

    def media_file(self, id: str, n: int) -> Path:
        """The stored file of document ``id``'s ``n``-th image, for serving: only a file
        inside an index's own media folder qualifies (never a path elsewhere on disk)."""
        self._check("fetch_document", {"id": id})
        with self._lock:
            doc = self.retriever.fetch(id)
            served = self.retriever.media_file(doc.images[n]) \
                if doc is not None and 0 <= n < len(doc.images) else None
        if served is not None:
            return served
        raise ToolCallError(f"document {id!r} has no image {n}", "not_found")

    def thumbnail(self, id: str, n: int = 0, max_side: int = THUMBNAIL_SIDE) -> bytes:
        """Document ``id``'s ``n``-th image (a file stored in the index, see
        :meth:`media_file`) as a JPEG at most ``max_side`` pixels on a side, for clients that
        show images inline (MCP image content)."""
        import io

        from nyx.images import ImageLoadError, load_image

        path = self.media_file(id, n)
        try:
            image = load_image(path, max_side=max_side)
        except ImageLoadError as error:
            raise ToolCallError(f"document {id!r}: image {n} cannot be read", "not_found"
                                ) from error
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=80)
        return out.getvalue()

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
            name, arguments = parse_call(tool_call)
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


def _public_refs(images: list[str]) -> list[str]:
    """Image references as clients see them: a file name, never a path on the server."""
    return [ref if ref.startswith("sha256:") else Path(ref).name for ref in images]


def _modality(doc: SearchResult) -> str:
    if doc.images:
        return "interleaved" if doc.text.strip() else "image"
    return "text"


def _number(value: Any) -> float | None:
    try:
        return None if value is None else round(float(value), 6)
    except (TypeError, ValueError):
        return None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
