"""What every demo service shares: its configuration, its guard, ``/whoami``, serving."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from jwtmesh.guard import (
    CurrentPrincipal,
    Guard,
    GuardMiddleware,
    GuardSettings,
    Principal,
    ServiceTokenSource,
    install,
)

__all__ = ["ENV_PREFIX", "ApiError", "ServiceConfig", "guarded_app", "principal_view", "serve"]

ENV_PREFIX = "JWTMESH_DEMO_"
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class ServiceConfig:
    """One demo service's settings: the guard's (``JWTMESH_GUARD_*``) and the demo's own.

    ``JWTMESH_DEMO_UPSTREAM_<NAME>`` gives the base URL of a neighbour,
    ``JWTMESH_DEMO_STATE_DIR`` where to keep files, ``JWTMESH_DEMO_TOKEN_URL``
    the authority's token endpoint for outgoing calls (with the guard's client
    credentials).
    """

    name: str
    guard: GuardSettings
    upstreams: Mapping[str, str] = field(default_factory=dict)
    state_dir: Path = Path(".")
    token_url: str | None = None

    @classmethod
    def from_env(cls, name: str, environ: Mapping[str, str] | None = None) -> ServiceConfig:
        """Read the configuration of service ``name`` from the environment."""
        env = os.environ if environ is None else environ
        prefix = ENV_PREFIX + "UPSTREAM_"
        upstreams = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
        return cls(
            name=name,
            guard=GuardSettings.from_env(environ=env),
            upstreams=upstreams,
            state_dir=Path(env.get(ENV_PREFIX + "STATE_DIR", ".")),
            token_url=env.get(ENV_PREFIX + "TOKEN_URL") or None,
        )

    def token_source(self) -> ServiceTokenSource:
        """This service's own tokens (client credentials, token exchange)."""
        if not (self.token_url and self.guard.client_id and self.guard.client_secret):
            raise RuntimeError(
                f"{self.name}: outgoing calls need a token URL and client credentials"
            )
        return ServiceTokenSource(self.token_url, self.guard.client_id, self.guard.client_secret)


def principal_view(service: str, principal: Principal) -> dict[str, Any]:
    """What a service knows about its caller (no token, no claim values beyond these)."""
    return {
        "service": service,
        "subject": principal.subject,
        "roles": sorted(principal.roles),
        "permissions": sorted(principal.permissions),
        "client_id": principal.client_id,
        "actor": principal.actor,
        "expires_at": principal.expires_at,
    }


class ApiError(Exception):
    """An error answer ``{"error", "error_description"}`` with an HTTP status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


async def _answer_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(body, status_code=exc.status)


def guarded_app(
    config: ServiceConfig, title: str, whoami: str, lifespan: Lifespan | None = None
) -> FastAPI:
    """A FastAPI app behind the guard (policy from its settings), answering ``GET whoami``.

    ``whoami`` is registered first, so it wins over the service's ``/{id}`` routes.
    """
    app = FastAPI(title=title, lifespan=lifespan)
    guard = Guard.from_settings(config.guard)
    install(app, guard)
    app.add_exception_handler(ApiError, _answer_error)
    app.add_middleware(GuardMiddleware, guard=guard, health_path="/healthz")

    @app.get(whoami)
    async def who_am_i(principal: CurrentPrincipal) -> dict[str, Any]:
        return principal_view(config.name, principal)

    return app


def serve(
    app: FastAPI,
    *,
    fd: int | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    log_level: str | None = None,
) -> None:
    """Serve on an inherited listening socket ``fd`` (or bind ``host:port``) until stopped.

    uvicorn turns SIGTERM and SIGINT into a graceful shutdown.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level or "warning",
        access_log=log_level is not None,
        lifespan="on",
        timeout_graceful_shutdown=1,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    sockets = [socket.socket(fileno=fd)] if fd is not None else None
    server.run(sockets=sockets)
