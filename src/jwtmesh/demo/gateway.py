"""The gateway: the shop's one public door.

It checks every request against the same policy as the services (a first
line; each service checks again), then forwards ``/catalog/**``,
``/orders/**`` and ``/users/**`` to the service of that name with the
caller's own token.  Its audience is ``gateway``: a token that is not
addressed to it is refused here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request, Response

from ._runtime import ServiceConfig, guarded_app

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_REQUEST_HEADERS = ("authorization", "content-type", "accept")
_RESPONSE_HEADERS = ("content-type", "www-authenticate", "cache-control", "retry-after")
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class _Forwarder:
    """Sends a request on to one upstream and copies the answer back."""

    def __init__(self, upstreams: dict[str, str]) -> None:
        self.upstreams = upstreams
        self.session: aiohttp.ClientSession | None = None

    async def forward(self, service: str, request: Request) -> Response:
        assert self.session is not None, "the app's lifespan has not started"
        url = self.upstreams[service] + request.url.path
        headers = {k: v for k, v in request.headers.items() if k in _REQUEST_HEADERS}
        try:
            async with self.session.request(
                request.method,
                url,
                params=list(request.query_params.multi_items()),
                headers=headers,
                data=await request.body(),
                allow_redirects=False,
            ) as upstream:
                body = await upstream.read()
                kept = {k: v for k, v in upstream.headers.items() if k.lower() in _RESPONSE_HEADERS}
                return Response(body, status_code=upstream.status, headers=kept)
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("upstream %s failed: %s", service, type(exc).__name__)
            return Response(
                b'{"error":"bad_gateway","error_description":"upstream failed"}',
                status_code=502,
                media_type="application/json",
            )


def create_app(config: ServiceConfig) -> FastAPI:
    """The gateway's FastAPI app, guarded, with one forwarding route per upstream."""
    forwarder = _Forwarder({k: v.rstrip("/") for k, v in config.upstreams.items()})

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=config.guard.http_timeout * 2)
        forwarder.session = aiohttp.ClientSession(timeout=timeout)
        try:
            yield
        finally:
            await forwarder.session.close()

    app = guarded_app(config, "jwtmesh demo: gateway", "/whoami", lifespan)
    for service in sorted(forwarder.upstreams):
        _add_route(app, forwarder, service)
    return app


def _add_route(app: FastAPI, forwarder: _Forwarder, service: str) -> None:
    async def forward(request: Request) -> Response:
        return await forwarder.forward(service, request)

    app.add_api_route(f"/{service}", forward, methods=_METHODS, include_in_schema=False)
    app.add_api_route(
        f"/{service}/{{rest:path}}", forward, methods=_METHODS, include_in_schema=False
    )
