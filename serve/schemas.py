"""The HTTP API's request bodies and query parameters, and the error statuses it documents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from nyx.ensemble.tools import MAX_IMAGE_BYTES, MAX_K, MAX_QUERY_CHARS
from nyx.search_options import option_schema

__all__ = ["AnswerRequest", "ERRORS", "MULTIPART_DOC", "SearchForm", "SearchParams",
           "SearchRequest", "ToolCallRequest", "ToolSearchParams"]

#: the one filter grammar (nyx.indexes.filters): expressions or, in JSON, an object
FILTER_DOC = ("metadata filter, ANDed: expressions such as year>=2024, topic=shop|news or "
              "source=doc/* (glob), ';'-separated, or a JSON object such as "
              '{"topic": "shop"}; the grammar is in the nyx.indexes.filters docstring')
#: at most this many `filter=` query parameters
MAX_FILTER_PARAMS = 32


_WIRE_TYPES: dict[str, Any] = {"number": float, "integer": int, "string": str}


def _option_field(spec: dict[str, Any]) -> tuple[Any, Any]:
    """A pydantic field from one search option's JSON schema (nyx.search_options)."""
    kind = (Literal[tuple(spec["enum"])] if "enum" in spec  # type: ignore[misc]
            else _WIRE_TYPES[spec["type"]])
    if "default" not in spec:
        kind = kind | None
    return kind, Field(spec.get("default"), description=spec["description"],
                       ge=spec.get("minimum"), le=spec.get("maximum"))


class _OptionsBase(BaseModel):
    def options(self) -> dict[str, Any]:
        """The keyword search options of this request, as :meth:`SearchTool.search` takes
        them (``modality`` is its positional argument)."""
        return {name: getattr(self, name) for name in option_schema() if name != "modality"}


#: Per-request search options shared by the JSON, query-string and multipart forms, generated
#: from :class:`nyx.SearchOptions`.
_SearchOptions = create_model(  # type: ignore[call-overload]
    "_SearchOptions", __base__=_OptionsBase,
    **{name: _option_field(spec) for name, spec in option_schema().items()})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Rows(BaseModel):
    """What each result row carries besides the hit's fields and its snippet."""

    full_text: bool = Field(False, description="also give each hit's whole text (the "
                            "snippet is its first words), so that no request per hit is "
                            "needed")


class SearchRequest(_Strict, _SearchOptions, _Rows):
    query: str = Field("", max_length=MAX_QUERY_CHARS, description="query text")
    k: int = Field(5, ge=1, le=MAX_K)
    filter: dict[str, Any] | str | None = Field(None, description=FILTER_DOC)
    image: str | None = Field(None, max_length=MAX_IMAGE_BYTES * 4 // 3 + 4,
                              description="base64-encoded query image")


class SearchParams(_SearchOptions, _Rows):
    model_config = ConfigDict(extra="forbid")
    q: str = Field("", max_length=MAX_QUERY_CHARS, description="query text")
    k: int = Field(5, ge=1, le=MAX_K)
    filter: list[Annotated[str, StringConstraints(max_length=MAX_QUERY_CHARS)]] | None = Field(
        None, max_length=MAX_FILTER_PARAMS, description=FILTER_DOC + "; repeatable")


class SearchForm(_SearchOptions, _Rows):
    """The text fields of a multipart image search (the file goes in ``image``)."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field("", max_length=MAX_QUERY_CHARS)
    k: int = Field(5, ge=1, le=MAX_K)
    filter: str | None = Field(None, max_length=MAX_QUERY_CHARS, description=FILTER_DOC)


class AnswerRequest(_Strict):
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)


class ToolSearchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="the task, in words")
    k: int = Field(5, ge=1, le=MAX_K)


class ToolCallRequest(BaseModel):
    """A model's tool call: ``{"name", "arguments"}`` or ``{"id", "type", "function"}``."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    type: Literal["function"] | None = None
    function: dict[str, Any] | None = None
    name: str | None = None
    arguments: str | dict[str, Any] | None = None


MULTIPART_DOC = {"requestBody": {"content": {
    "application/json": {"schema": SearchRequest.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        **SearchForm.model_json_schema()["properties"],
        "image": {"type": "string", "format": "binary"}}}}}}}


_ERROR_BODY = {"application/json": {"schema": {"type": "object", "properties": {
    "error": {"type": "string"}, "code": {"type": "string"}}}}}
#: Documented so that clients (and schemathesis) know every status the API answers with.
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such document or image", "content": _ERROR_BODY},
    413: {"description": "request body too large", "content": _ERROR_BODY},
    422: {"description": "invalid arguments, with the reason", "content": _ERROR_BODY}}
