"""The FastAPI application of the authority."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from jwtmesh.authority import _openapi as doc
from jwtmesh.authority._broadcast import RedisBroadcaster
from jwtmesh.authority._clients import ClientCredentials
from jwtmesh.authority._errors import OAuthError
from jwtmesh.authority._http import (
    NO_STORE,
    BodyLimitMiddleware,
    EventNotifier,
    bearer_token,
    client_credentials,
    error_response,
    json_object,
    optional_str,
    read_form,
    required_str,
)
from jwtmesh.authority._keyring import start_key_schedule
from jwtmesh.authority._service import Authority, TokenResponse
from jwtmesh.authority._sessions import SessionStore
from jwtmesh.authority._settings import AuthoritySettings
from jwtmesh.authority._setup import build_authority
from jwtmesh.authority._throttle import (
    CLIENT_AUTH,
    LOGIN,
    Throttle,
    ThrottleKind,
    client_address,
    parse_networks,
    throttle_from_settings,
)
from jwtmesh.authority._tokens import (
    GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH,
    GRANT_TOKEN_EXCHANGE,
)
from jwtmesh.store import RevocationEvent

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_PURGE_EVERY = 600.0
_FEED_RECHECK = 1.0  # also re-read the feed this often: another process may write it


def create_app(settings: AuthoritySettings) -> FastAPI:
    """The authority as an ASGI app; raise :class:`StartupError` when it cannot start.

    Migrations run and the key ring is loaded (or created) here, before any
    server starts, so a missing or wrong KEK stops start-up at once.
    """
    authority = build_authority(settings)
    notifier = EventNotifier()
    authority.notify = notifier.notify
    broadcaster = _broadcaster(authority)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        notifier.bind(asyncio.get_running_loop())
        purger = asyncio.create_task(_purge_forever(authority))
        key_ticker = start_key_schedule(authority.keyring, settings)
        tasks = [purger, key_ticker]
        if broadcaster is not None:
            tasks.append(asyncio.create_task(broadcaster.run(notifier.current)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if broadcaster is not None:
                await broadcaster.close()
            if _app.state.throttle is not None:
                await _app.state.throttle.aclose()
            if _app.state.sessions is not None:
                await _app.state.sessions.aclose()
            authority.store.close()

    app = FastAPI(title="jwtmesh authority", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.authority = authority
    app.state.broadcaster = broadcaster
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.state.throttle = throttle_from_settings(settings)
    app.state.sessions = SessionStore.from_settings(settings)
    _add_error_handlers(app)
    attempt = _Attempts(settings, app.state.throttle)
    _add_token_routes(app, authority, attempt)
    _add_revocation_routes(app, authority, notifier, attempt)
    _add_metadata_routes(app, authority)
    doc.install_openapi(app)

    return app


class _Attempts:
    """Login and client-authentication attempts, throttled when configured."""

    def __init__(self, settings: AuthoritySettings, throttle: Throttle | None) -> None:
        self.throttle = throttle
        self.proxies = parse_networks("JWTMESH_TRUSTED_PROXIES", settings.trusted_proxies)

    def __call__(
        self, request: Request, kind: ThrottleKind, subject: str | None
    ) -> contextlib.AbstractAsyncContextManager[None]:
        if self.throttle is None:
            return contextlib.nullcontext()
        peer = request.client.host if request.client else None
        address = client_address(peer, request.headers.get("x-forwarded-for"), self.proxies)
        return self.throttle.attempt(kind, subject, address)


def _broadcaster(authority: Authority) -> RedisBroadcaster | None:
    """The Redis publisher of revocation events, when ``JWTMESH_REDIS_URL`` is set."""
    settings = authority.settings
    if settings.redis_url is None:
        return None
    # A stream entry older than the longest access-token life (plus the guards'
    # leeway) names an expired token: it can go.
    return RedisBroadcaster(
        authority.store,
        settings.redis_url,
        stream=settings.revocation_stream,
        retention=settings.access_ttl + 60,
    )


async def _purge_forever(authority: Authority) -> None:
    while True:
        try:
            purged = await run_in_threadpool(authority.purge)
            logger.debug("purged %d expired records", purged)
        except Exception as exc:  # keep serving; the next round retries
            logger.warning("purge failed: %s", type(exc).__name__)
        await asyncio.sleep(_PURGE_EVERY)


def _add_error_handlers(app: FastAPI) -> None:
    async def oauth_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OAuthError)
        return error_response(exc)

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        where = ".".join(str(p) for p in exc.errors()[0]["loc"]) if exc.errors() else "request"
        return error_response(OAuthError("invalid_request", f"'{where}' is invalid"))

    async def server_error(_request: Request, exc: Exception) -> Response:
        logger.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return error_response(OAuthError("server_error", "internal error", 500))

    app.add_exception_handler(OAuthError, oauth_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)


def _tokens(response: TokenResponse) -> JSONResponse:
    return JSONResponse(response.to_json(), headers=NO_STORE)


def _add_token_routes(app: FastAPI, authority: Authority, attempt: _Attempts) -> None:
    @app.post("/login", **doc.LOGIN)
    async def login(request: Request) -> Response:
        data = await json_object(request)
        username = required_str(data, "username", doc.MAX_USERNAME_CHARS)
        password = required_str(data, "password", doc.MAX_PASSWORD_CHARS)
        extra = {k: optional_str(data, k, 200) for k in ("client_id", "audience", "scope")}
        async with attempt(request, LOGIN, username):
            result = await run_in_threadpool(authority.login, username, password, **extra)
        sessions: SessionStore | None = request.app.state.sessions
        if sessions is None:
            return _tokens(result)
        session_id = await sessions.start(authority, result.access_token)
        return JSONResponse({**result.to_json(), "session_id": session_id}, headers=NO_STORE)

    @app.post("/oauth/token", **doc.TOKEN)
    async def token(request: Request) -> Response:
        form = await read_form(request)
        creds = client_credentials(request, form)
        async with attempt(request, CLIENT_AUTH, creds.client_id):
            return await _grant(authority, creds, form)

    @app.post("/logout", **doc.LOGOUT)
    async def logout(request: Request) -> Response:
        access = bearer_token(request)
        data = await json_object(request, allow_empty=True)
        sessions: SessionStore | None = request.app.state.sessions
        if sessions is not None and sessions.owns(access):
            await sessions.end(access)
            return Response(status_code=204, headers=NO_STORE)
        refresh = optional_str(data, "refresh_token", 200)
        await run_in_threadpool(authority.logout, access, refresh)
        return Response(status_code=204, headers=NO_STORE)


async def _grant(authority: Authority, creds: ClientCredentials, form: dict[str, str]) -> Response:
    grant = form.get("grant_type")
    if not grant:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant == GRANT_REFRESH:
        refresh = form.get("refresh_token")
        if not refresh:
            raise OAuthError("invalid_request", "refresh_token is required")
        result = await run_in_threadpool(authority.refresh, creds, refresh, form.get("scope"))
    elif grant == GRANT_CLIENT_CREDENTIALS:
        audience = form.get("audience") or form.get("resource")
        result = await run_in_threadpool(
            authority.client_credentials, creds, audience, form.get("scope")
        )
    elif grant == GRANT_TOKEN_EXCHANGE:
        result = await run_in_threadpool(authority.token_exchange, creds, form)
    else:
        raise OAuthError("unsupported_grant_type", "this grant type is not supported")
    return _tokens(result)


def _token_param(form: dict[str, str]) -> tuple[str, str | None]:
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required")
    return token, form.get("token_type_hint")


def _add_revocation_routes(
    app: FastAPI, authority: Authority, notifier: EventNotifier, attempt: _Attempts
) -> None:
    @app.post("/oauth/revoke", **doc.REVOKE)
    async def revoke(request: Request) -> Response:
        form = await read_form(request)
        creds = client_credentials(request, form)
        token, hint = _token_param(form)
        async with attempt(request, CLIENT_AUTH, creds.client_id):
            await run_in_threadpool(authority.revoke, creds, token, hint)
        return Response(status_code=200, headers=NO_STORE)

    @app.post("/oauth/introspect", **doc.INTROSPECT)
    async def introspect(request: Request) -> Response:
        form = await read_form(request)
        creds = client_credentials(request, form)
        token, hint = _token_param(form)
        async with attempt(request, CLIENT_AUTH, creds.client_id):
            result = await run_in_threadpool(authority.introspect, creds, token, hint)
        return JSONResponse(result, headers=NO_STORE)

    @app.get("/oauth/revocations", **doc.FEED)
    async def revocations(request: Request) -> Response:
        creds = client_credentials(request, None)
        async with attempt(request, CLIENT_AUTH, creds.client_id):
            await run_in_threadpool(authority.clients.authenticate, creds, allow_public=False)
        after = _number(request, "after", int, 0)
        wait = min(_number(request, "wait", float, 0.0), authority.settings.revocation_wait_max)
        body = await _long_poll(authority, notifier, after, wait, request)
        return JSONResponse(body, headers=NO_STORE)


def _number(request: Request, name: str, kind: type[Any], default: Any) -> Any:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise OAuthError("invalid_request", f"query parameter '{name}' must be a number") from None
    if value < 0 or value != value:  # also refuses NaN
        raise OAuthError("invalid_request", f"query parameter '{name}' must not be negative")
    if kind is int and value > doc.MAX_CURSOR:  # a database integer is 64 bits
        raise OAuthError("invalid_request", f"query parameter '{name}' is too large")
    return value


async def _long_poll(
    authority: Authority, notifier: EventNotifier, after: int, wait: float, request: Request
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        wake = notifier.current()  # taken before reading, so no wake-up is lost
        events = await run_in_threadpool(authority.events_after, after)
        left = deadline - loop.time()
        # A reader that hung up must not hold the request (and a graceful shutdown) open.
        if events or left <= 0 or await request.is_disconnected():
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), min(left, _FEED_RECHECK))
    cursor = events[-1].id if events else after

    return {"cursor": cursor, "events": [_event_json(e) for e in events]}


def _event_json(event: RevocationEvent) -> dict[str, Any]:
    """``{"jti", "exp"}`` for one access token, ``{"sid", "exp"}`` for a whole session."""
    if event.jti is not None:
        return {"jti": event.jti, "exp": _num(event.exp)}
    return {"sid": event.sid, "exp": _num(event.exp)}


def _num(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _add_metadata_routes(app: FastAPI, authority: Authority) -> None:
    settings = authority.settings
    metadata = _server_metadata(settings)

    @app.get("/.well-known/jwks.json", **doc.json_get("The public keys (JWKS)"))
    async def jwks() -> Response:
        cache = f"public, max-age={settings.jwks_max_age}"
        return JSONResponse(authority.keyring.jwks(), headers={"Cache-Control": cache})

    @app.get("/.well-known/oauth-authorization-server", **doc.json_get("RFC 8414 server metadata"))
    async def oauth_metadata() -> Response:
        return JSONResponse(metadata)

    @app.get("/.well-known/openid-configuration", **doc.json_get("OpenID-style metadata"))
    async def openid_configuration() -> Response:
        return JSONResponse(
            {
                **metadata,
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [settings.signing_alg],
            }
        )

    @app.get("/healthz", **doc.json_get("Liveness and database health", 503))
    async def healthz() -> Response:
        try:
            await run_in_threadpool(authority.store.last_event_id)
        except Exception as exc:
            logger.warning("health check: database unavailable (%s)", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "database": False}, status_code=503)
        body: dict[str, Any] = {"status": "ok", "database": True}
        broadcaster: RedisBroadcaster | None = app.state.broadcaster
        if broadcaster is not None:
            # Redis only speeds delivery up (the feed still works): it never fails health.
            body["redis"] = {
                "publishing": bool(broadcaster.healthy),
                "published": broadcaster.published,
            }
        return JSONResponse(body)


def _server_metadata(settings: AuthoritySettings) -> dict[str, Any]:
    """RFC 8414 authorization server metadata."""
    base = settings.issuer_base
    client_auth = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": settings.issuer,
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "grant_types_supported": [GRANT_REFRESH, GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": [*client_auth, "none"],
        "revocation_endpoint_auth_methods_supported": [*client_auth, "none"],
        "introspection_endpoint_auth_methods_supported": client_auth,
        "scopes_supported": list(settings.default_scopes),
        "login_endpoint": f"{base}/login",
        "logout_endpoint": f"{base}/logout",
        "revocation_feed_endpoint": f"{base}/oauth/revocations",
        "access_token_signing_alg_values_supported": [settings.signing_alg],
    }
