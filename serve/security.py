"""ASGI guards shared by the HTTP API and the MCP endpoint: an API key, a body-size cap, and a
``Host`` check on loopback servers (DNS rebinding)."""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["API_KEY_ENV", "ApiKeyMiddleware", "BodyLimitMiddleware", "HostCheckMiddleware",
           "resolve_api_key"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

API_KEY_ENV = "NYX_API_KEY"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def resolve_api_key(given: str | None) -> str | None:
    """The key from ``--api-key``, else ``$NYX_API_KEY``, else None (no key required)."""
    key = given if given is not None else (os.environ.get(API_KEY_ENV) or None)
    if key is not None and len(key.strip()) < 8:
        raise ValueError("the API key must be at least 8 characters; generate one with "
                         "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`")
    return key.strip() if key else None


async def send_json(send: Send, status: int, body: dict[str, Any],
                    headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *headers]})
    await send({"type": "http.response.body", "body": data})


def _host_name(value: str) -> str:
    """``Host`` header -> host name (``[::1]:8765`` -> ``::1``, ``localhost:80`` -> localhost)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostCheckMiddleware:
    """On a server bound to a loopback address, answer only requests whose ``Host`` names a
    loopback host (421 otherwise), as the MCP endpoint does: a web page on another site cannot
    reach a keyless local server by pointing its own DNS name at 127.0.0.1 (DNS rebinding).
    A server bound elsewhere (``--host 0.0.0.0``) is reached by names this cannot know."""

    def __init__(self, app: ASGIApp, bound_host: str) -> None:
        self.app = app
        self.active = _host_name(bound_host) in LOOPBACK_HOSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.active or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"]
        if len(hosts) == 1 and _host_name(hosts[0]) in LOOPBACK_HOSTS:
            await self.app(scope, receive, send)
            return
        logger.info("refused %s %s: Host header %r is not a loopback name",
                    scope.get("method"), scope["path"], hosts[:1])
        await send_json(send, 421, {
            "error": "this server answers only requests addressed to 127.0.0.1, localhost or "
                     "[::1] (Host header); start it with --host to serve other names",
            "code": "misdirected_request"})


class ApiKeyMiddleware:
    """Requires ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` on every path except the
    public ones (the page, its assets, health and the OpenAPI document)."""

    def __init__(self, app: ASGIApp, api_key: str | None,
                 public_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.public = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.api_key is None or scope["type"] != "http" or scope["path"] in self.public
                or scope.get("method") == "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if self._authorized(scope):
            await self.app(scope, receive, send)
            return
        logger.info("refused %s %s: missing or wrong API key", scope.get("method"),
                    scope["path"])
        await send_json(send, 401, {
            "error": "missing or wrong API key: send 'Authorization: Bearer KEY' or "
                     "'X-API-Key: KEY' (the key given with --api-key or NYX_API_KEY)",
            "code": "unauthorized"}, [(b"www-authenticate", b'Bearer realm="nyx"')])

    def _authorized(self, scope: Scope) -> bool:
        assert self.api_key is not None
        given = b""
        for name, value in scope.get("headers", []):
            if name == b"x-api-key":
                given = value.strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
            if given:
                break
        return hmac.compare_digest(given, self.api_key)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413 before reading them. Bodies must
    declare a Content-Length (the HTTP server holds the body to it), so a chunked upload of
    unknown size gets 411; ``skip_paths`` keep their own limits (MCP has one)."""

    def __init__(self, app: ASGIApp, max_bytes: int, skip_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.skip = tuple(skip_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is None and b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            await send_json(send, 411, {"error": "send the request body with a "
                                        "Content-Length header", "code": "length_required"})
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await send_json(send, 413, {
                "error": f"request body larger than {self.max_bytes:,} bytes: send a smaller "
                         "image (downscale or recompress it)", "code": "too_large"})
            return
        await self.app(scope, receive, send)
