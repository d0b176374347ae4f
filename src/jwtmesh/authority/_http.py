"""HTTP plumbing: body cap, request parsing, OAuth error answers, feed wake-ups."""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jwtmesh.authority._clients import ClientCredentials
from jwtmesh.authority._errors import OAuthError

__all__ = [
    "MAX_FIELD_CHARS",
    "NO_STORE",
    "BodyLimitMiddleware",
    "EventNotifier",
    "bearer_token",
    "client_credentials",
    "error_response",
    "json_object",
    "optional_str",
    "read_form",
    "required_str",
]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_FIELDS = 64
MAX_FIELD_CHARS = 8192  # one form parameter: the longest token we issue is far shorter


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, whether declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)  # client went away; the app sees an empty body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = OAuthError("invalid_request", f"request body is larger than {self.max_bytes} bytes")
        await error_response(error, 413)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def error_response(error: OAuthError, status: int | None = None) -> JSONResponse:
    """The RFC 6749 section 5.2 JSON error body, never cached."""
    body = {"error": error.error, "error_description": error.description}
    headers = {**NO_STORE, **error.headers}
    return JSONResponse(body, status_code=status or error.status, headers=headers)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; repeated parameters are refused."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise OAuthError(
            "invalid_request", "Content-Type must be application/x-www-form-urlencoded"
        )
    try:
        text = (await request.body()).decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=_MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form body is malformed") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            # RFC 6749 section 3.2: parameters must not be included more than once.
            raise OAuthError("invalid_request", f"parameter '{name[:40]}' is repeated")
        _check_text(f"parameter '{name[:40]}'", value, MAX_FIELD_CHARS)
        form[name] = value
    return form


def _check_text(what: str, value: str, max_len: int) -> None:
    if len(value) > max_len:
        raise OAuthError("invalid_request", f"{what} is longer than {max_len} characters")
    if "\x00" in value:  # no store or header may ever see a NUL
        raise OAuthError("invalid_request", f"{what} must not contain NUL characters")


async def json_object(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """A JSON object body, or a 400 saying what is wrong with it."""
    body = await request.body()
    if allow_empty and not body.strip():
        return {}
    if _media_type(request) != "application/json":
        raise OAuthError("invalid_request", "Content-Type must be application/json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise OAuthError("invalid_request", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise OAuthError("invalid_request", "the body must be a JSON object")
    return data


def optional_str(data: dict[str, Any], name: str, max_len: int = 1024) -> str | None:
    """A string field that may be missing or null; anything else names the field."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise OAuthError("invalid_request", f"field '{name}' must be a string")
    _check_text(f"field '{name}'", value, max_len)
    return value


def required_str(data: dict[str, Any], name: str, max_len: int = 1024) -> str:
    """A non-empty string field."""
    value = optional_str(data, name, max_len)
    if not value:
        raise OAuthError("invalid_request", f"field '{name}' is required")
    return value


def client_credentials(request: Request, form: dict[str, str] | None) -> ClientCredentials:
    """Client credentials from HTTP Basic or the form (RFC 6749 section 2.3.1), not both."""
    form = form or {}
    header = request.headers.get("authorization", "")
    if header[:6].lower() != "basic ":
        return ClientCredentials(form.get("client_id"), form.get("client_secret"))
    client_id, secret = _parse_basic(header[6:].strip())
    if form.get("client_secret") or form.get("client_id", client_id) != client_id:
        raise OAuthError("invalid_request", "use one client authentication method, not two")
    return ClientCredentials(client_id, secret, via_basic=True)


def _parse_basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _bad_basic() from None
    client_id, sep, secret = decoded.partition(":")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if not sep or not client_id or "\x00" in client_id + secret:
        raise _bad_basic()
    if len(client_id) > MAX_FIELD_CHARS or len(secret) > MAX_FIELD_CHARS:
        raise _bad_basic()
    return client_id, secret


def _bad_basic() -> OAuthError:
    return OAuthError(
        "invalid_client",
        "malformed Basic credentials",
        401,
        {"WWW-Authenticate": 'Basic realm="jwtmesh"'},
    )


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer`` header, or 401 (RFC 6750 section 3)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise OAuthError(
            "invalid_request",
            "a Bearer access token is required",
            401,
            {"WWW-Authenticate": 'Bearer realm="jwtmesh"'},
        )
    return token.strip()


class EventNotifier:
    """Wakes long-polling readers when a revocation is committed (from any thread)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (at start-up)."""
        self._loop = loop
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        """The event the next notification sets; take it *before* reading the feed."""
        return self._event

    def notify(self) -> None:
        """Thread safe: set the current event and start a new one."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()
