"""FastAPI dependencies: ``current_principal``, ``require(...)``, ``require_role(...)``.

Each declares the HTTP Bearer security scheme, so ``/docs`` offers the
"Authorize" button.  With :class:`GuardMiddleware` in front they read the
principal it set; without it they authenticate themselves through the
:class:`Guard` stored by :func:`install` (``app.state.jwtmesh_guard``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ._guard import Guard
from ._middleware import Rejection, extract_bearer, forbidden, rejection_for_error
from ._principal import Principal

__all__ = [
    "CurrentPrincipal",
    "GuardHTTPException",
    "bearer_scheme",
    "current_principal",
    "install",
    "require",
    "require_role",
]

bearer_scheme = HTTPBearer(
    bearerFormat="JWT",
    scheme_name="bearerAuth",
    auto_error=False,
    description="An access token (RFC 9068 JWT) from the jwtmesh authority.",
)


class GuardHTTPException(HTTPException):
    """An HTTPException carrying the guard's :class:`Rejection`."""

    def __init__(self, rejection: Rejection, realm: str) -> None:
        super().__init__(
            rejection.status,
            detail={
                "error": rejection.error or "unauthorized",
                "error_description": rejection.description,
            },
            headers={
                k.decode(): v.decode("latin-1")
                for k, v in rejection.headers(realm)
                if k in (b"www-authenticate", b"retry-after", b"cache-control")
            },
        )
        self.rejection = rejection


def install(app: FastAPI, guard: Guard) -> None:
    """Make ``guard`` available to the dependencies and answer errors as ``{"error", ...}``."""
    app.state.jwtmesh_guard = guard
    app.add_exception_handler(GuardHTTPException, _handle)  # type: ignore[arg-type]


async def _handle(_request: Request, exc: GuardHTTPException) -> JSONResponse:
    return JSONResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


def _guard_of(request: Request) -> Guard:
    guard = getattr(request.state, "jwtmesh_guard", None) or getattr(
        request.app.state, "jwtmesh_guard", None
    )
    if not isinstance(guard, Guard):
        raise RuntimeError("no Guard: add GuardMiddleware or call jwtmesh.guard.install()")
    return guard


async def current_principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    """The authenticated caller (401 when there is none)."""
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        return principal
    guard = _guard_of(request)
    token = extract_bearer(request.scope, guard.max_token_size)
    if isinstance(token, Rejection):
        raise GuardHTTPException(token, guard.realm)
    try:
        principal = await guard.authenticate(token)
    except Exception as exc:  # any failure is the token's: never a 500
        raise GuardHTTPException(rejection_for_error(exc), guard.realm) from None
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
"""``principal: CurrentPrincipal`` in a path operation's signature."""


def _realm(request: Request) -> str:
    guard = getattr(request.state, "jwtmesh_guard", None) or getattr(
        request.app.state, "jwtmesh_guard", None
    )
    return guard.realm if isinstance(guard, Guard) else "jwtmesh"


def require(*permissions: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that needs every one of ``permissions`` (403 ``insufficient_scope``)."""

    async def dependency(request: Request, principal: CurrentPrincipal) -> Principal:
        missing = principal.missing(permissions)
        if missing:
            raise GuardHTTPException(forbidden(missing), _realm(request))
        return principal

    return dependency


def require_role(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that needs at least one of ``roles`` (403 ``insufficient_scope``)."""

    async def dependency(request: Request, principal: CurrentPrincipal) -> Principal:
        if not principal.roles.intersection(roles):
            rejection = Rejection(
                403, "insufficient_scope", "insufficient_role", "missing role " + " ".join(roles)
            )
            raise GuardHTTPException(rejection, _realm(request))
        return principal

    return dependency
