"""Pure ASGI middleware: bearer token in, principal out, RFC 6750 errors otherwise."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jwtmesh.jose import InvalidTokenError

from ._errors import GuardUnavailableError
from ._guard import Guard
from ._principal import Principal

__all__ = ["GuardMiddleware", "Rejection", "authenticate_header", "rejection_for_error"]

logger = logging.getLogger(__name__)

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
# RFC 6750 section 3: error_description uses %x20-21 / %x23-5B / %x5D-7E only.
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_REASONS = {
    "malformed": "the token is not a well-formed JWT",
    "too_large": "the token is too large",
    "unsupported_header": "the token header is not accepted",
    "unsupported_alg": "the token algorithm is not accepted",
    "unknown_kid": "the token was signed with an unknown key",
    "bad_signature": "the token signature is invalid",
    "wrong_typ": "the token type is not accepted",
    "expired": "the token has expired",
    "not_yet_valid": "the token is not valid yet",
    "wrong_issuer": "the token is from another issuer",
    "wrong_audience": "the token is for another audience",
    "missing_claim": "a required claim is missing",
    "invalid_claim": "a claim has an invalid value",
    "revoked": "the token has been revoked",
    "inactive": "the token is not active",
    "unknown_session": "the session does not exist",
}


@dataclass(frozen=True)
class Rejection:
    """One refusal: HTTP status, OAuth error, stable code and a short reason."""

    status: int
    error: str | None
    code: str
    reason: str
    required: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        """``code: reason``, restricted to the characters RFC 6750 allows."""
        return _UNSAFE.sub("?", f"{self.code}: {self.reason}")

    def headers(self, realm: str) -> list[tuple[bytes, bytes]]:
        """Response headers, with the ``WWW-Authenticate`` challenge for 400/401/403."""
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        if self.status == 503:
            return [*headers, (b"retry-after", b"5")]
        challenge = authenticate_header(realm, self)
        return [*headers, (b"www-authenticate", challenge.encode("latin-1"))]

    def body(self) -> bytes:
        """The JSON body ``{"error", "error_description"}``."""
        return orjson.dumps(
            {"error": self.error or "unauthorized", "error_description": self.description}
        )


def authenticate_header(realm: str, rejection: Rejection) -> str:
    """The RFC 6750 section 3 challenge; no error attributes when no credentials came."""
    parts = [f'Bearer realm="{_UNSAFE.sub("?", realm)}"']
    if rejection.error is not None:
        parts.append(f'error="{rejection.error}"')
        parts.append(f'error_description="{rejection.description}"')
    if rejection.required:
        parts.append(f'scope="{_UNSAFE.sub("?", " ".join(rejection.required))}"')
    return ", ".join(parts)


MISSING_TOKEN = Rejection(401, None, "missing_token", "a bearer token is required")


def _bad_request(code: str, reason: str) -> Rejection:
    return Rejection(400, "invalid_request", code, reason)


def _invalid_token(code: str, reason: str | None = None) -> Rejection:
    return Rejection(
        401, "invalid_token", code, reason or _REASONS.get(code, "the token is not valid")
    )


def forbidden(missing: list[str] | tuple[str, ...], code: str = "insufficient_scope") -> Rejection:
    """403 ``insufficient_scope`` naming the missing permissions."""
    reason = "missing permission " + " ".join(missing) if missing else "this route is not open"
    return Rejection(403, "insufficient_scope", code, reason, tuple(missing))


def rejection_for_error(exc: BaseException) -> Rejection:
    """Map anything raised while checking a token to a response; never a 500."""
    if isinstance(exc, InvalidTokenError):
        reason = _REASONS.get(exc.code)
        if exc.code == "missing_claim" and exc.claim:
            reason = f"claim {exc.claim} is required"
        return _invalid_token(exc.code, reason)
    if isinstance(exc, GuardUnavailableError):
        return Rejection(503, "temporarily_unavailable", exc.code, "please retry later")
    return _invalid_token("unverifiable", "the token could not be verified")


def extract_bearer(scope: Scope, max_size: int) -> str | Rejection:
    """The bearer token of the request, or why there is none usable (RFC 6750 2.1)."""
    # ASGI servers lower-case header names (ASGI spec, HTTP connection scope).
    values = [v for k, v in scope.get("headers", ()) if k == b"authorization"]
    if not values:
        return MISSING_TOKEN
    if len(values) > 1:
        return _bad_request("multiple_authorization", "only one Authorization header is allowed")
    raw: bytes = values[0]
    # Checked on the raw bytes, before anything is decoded.
    if len(raw) > max_size + 16:
        return _invalid_token("too_large")
    scheme, _, credentials = raw.partition(b" ")
    if scheme.lower() != b"bearer":
        return MISSING_TOKEN  # another scheme: no bearer credentials (RFC 6750 3.1)
    credentials = credentials.strip(b" ")
    body = credentials.rstrip(b"=")
    # Deleting every allowed byte leaves nothing for a well-formed b64token (C speed).
    if not body or body.translate(None, _B64TOKEN_CHARS):
        return _bad_request("malformed_header", "the Authorization header is not Bearer <token>")
    if len(credentials) > max_size:
        return _invalid_token("too_large")
    return credentials.decode("ascii")


class GuardMiddleware:
    """Authenticates every HTTP and WebSocket request and applies the policy's route rules.

    Public paths (settings) and ``public`` routes pass untouched; otherwise
    the principal lands in ``scope["state"]["principal"]``.  ``health_path``
    (if given) answers with :meth:`Guard.health`.
    """

    def __init__(self, app: ASGIApp, guard: Guard, *, health_path: str | None = None) -> None:
        self.app = app
        self.guard = guard
        self.health_path = health_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not self.guard.started:
            await self.guard.start()
        scope.setdefault("state", {})["jwtmesh_guard"] = self.guard
        if self.health_path is not None and scope["path"] == self.health_path:
            await self._send_health(scope, send)
            return
        outcome = await self._decide(scope)
        if isinstance(outcome, Rejection):
            await self._reject(scope, receive, send, outcome)
            return
        if outcome is not None:
            scope["state"]["principal"] = outcome
        await self.app(scope, receive, send)

    async def _decide(self, scope: Scope) -> Principal | Rejection | None:
        path: str = scope["path"]
        method: str = scope.get("method", "GET")
        policy = self.guard.policy
        if path in self.guard.public_paths:
            return None
        rule = policy.match(method, path) if policy is not None else None
        if rule is not None and rule.public:
            return None
        if rule is None and policy is not None and policy.unknown_route == "public":
            return None
        principal = await self._authenticate(scope)
        if isinstance(principal, Rejection):
            return principal
        if rule is not None:
            missing = principal.missing(rule.permissions)
            return forbidden(missing) if missing else principal
        if policy is not None and policy.unknown_route == "deny":
            return forbidden([], "route_denied")
        return principal

    async def _authenticate(self, scope: Scope) -> Principal | Rejection:
        token = extract_bearer(scope, self.guard.max_token_size)
        if isinstance(token, Rejection):
            return token
        try:
            return await self.guard.authenticate(token)
        except Exception as exc:  # any failure is the token's: never a 500
            rejection = rejection_for_error(exc)
            logger.info("request rejected: %s", rejection.code)
            return rejection

    async def _reject(self, scope: Scope, receive: Receive, send: Send, r: Rejection) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008 if r.status < 500 else 1013})
            return
        await _send_json(send, r.status, r.headers(self.guard.realm), r.body())

    async def _send_health(self, scope: Scope, send: Send) -> None:
        report = self.guard.health()
        status = 503 if report["status"] == "unavailable" else 200
        await _send_json(
            send,
            status,
            [(b"content-type", b"application/json"), (b"cache-control", b"no-store")],
            orjson.dumps(report),
        )

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.guard.start()
            elif message["type"] == "lifespan.shutdown":
                await self.guard.close()
            return message

        return wrapped


async def _send_json(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode("ascii"))]
    message: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(message)
    await send({"type": "http.response.body", "body": body})
