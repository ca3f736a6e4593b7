"""Errors raised by ensemble modules; each message says what to do about it."""

from __future__ import annotations

__all__ = ["GeneratorError", "GeneratorRequestError", "GeneratorTimeoutError",
           "GeneratorUnavailableError", "ToolError", "UnsupportedSearchError"]


class GeneratorError(RuntimeError):
    """Base class of generator failures."""


class GeneratorUnavailableError(GeneratorError, ConnectionError):
    """The generation backend could not be reached (after retries)."""


class GeneratorTimeoutError(GeneratorUnavailableError, TimeoutError):
    """Every attempt timed out."""


class GeneratorRequestError(GeneratorError, ValueError):
    """The backend refused the request (an HTTP 4xx other than 408/429): retrying won't help."""


class ToolError(ValueError):
    """A tool call was malformed or failed; :meth:`SearchTool.dispatch` returns it as a tool
    message instead of raising."""


class UnsupportedSearchError(ValueError):
    """A retriever module cannot search that way (an image query, a mode, reranking): the
    message names what it can do instead."""
