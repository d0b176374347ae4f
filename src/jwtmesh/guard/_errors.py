"""Errors raised by :mod:`jwtmesh.guard`, beside the token errors of :mod:`jwtmesh.jose`.

::

    jose.InvalidTokenError                   -> 401 invalid_token
    ├── InactiveTokenError      inactive     (introspection said active=false)
    └── UnknownSessionError     unknown_session
    GuardError
    ├── GuardUnavailableError   code         -> 503 (revocation feed stale, introspection down)
    ├── SettingsError           field        (bad GuardSettings value)
    ├── PolicyError             field        (bad policy file)
    └── TokenEndpointError      status, error (outgoing token request refused)
"""

from __future__ import annotations

from jwtmesh.jose import InvalidTokenError

__all__ = [
    "GuardError",
    "GuardUnavailableError",
    "InactiveTokenError",
    "PolicyError",
    "SettingsError",
    "TokenEndpointError",
    "UnknownSessionError",
]


class InactiveTokenError(InvalidTokenError):
    """The authority's introspection endpoint reported the token inactive (RFC 7662 2.2)."""

    code = "inactive"


class UnknownSessionError(InvalidTokenError):
    """No server-side session matches the opaque session id."""

    code = "unknown_session"


class GuardError(Exception):
    """Base of the guard's own errors (not token rejections)."""


class GuardUnavailableError(GuardError):
    """The guard cannot decide now (a dependency is down or stale): answer 503."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def description(self) -> str:
        """``code: message``, safe to send to the client."""
        return f"{self.code}: {self}"


class SettingsError(GuardError, ValueError):
    """A configuration value is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class PolicyError(GuardError, ValueError):
    """A policy file is invalid; ``field`` names the faulty entry (``routes[2].path``)."""

    def __init__(self, field: str, message: str, source: str | None = None) -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field}: {message}")
        self.field = field


class TokenEndpointError(GuardError):
    """The token endpoint refused or failed a request; never carries a secret."""

    def __init__(
        self, message: str, *, status: int | None = None, error: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
