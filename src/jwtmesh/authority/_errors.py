"""Errors of the authority: configuration, start-up, and OAuth answers.

::

    AuthorityError
    ├── ConfigError                         fix the configuration, then start again
    │   ├── SettingsError (a ValueError)    a bad setting; ``field`` names it
    │   └── StartupError                    cannot start (missing or wrong KEK, bad policy)
    └── OAuthError                          an RFC 6749 error answer
"""

from __future__ import annotations

__all__ = ["AuthorityError", "ConfigError", "OAuthError", "SettingsError", "StartupError"]


class AuthorityError(Exception):
    """Base of every error raised by :mod:`jwtmesh.authority`."""


class ConfigError(AuthorityError):
    """The configuration does not allow the authority to run; the message says why."""


class SettingsError(ConfigError, ValueError):
    """A setting has a bad value; ``field`` is its environment variable name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class StartupError(ConfigError):
    """The authority refuses to start; the message says what to fix."""


class OAuthError(AuthorityError):
    """An error answer of RFC 6749 section 5.2: ``{"error", "error_description"}``.

    ``description`` is sent to the client: it never holds a token, secret or password.
    """

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}
