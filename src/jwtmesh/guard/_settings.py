"""Guard configuration: one dataclass, filled in code or from ``JWTMESH_GUARD_*`` variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import SettingsError

__all__ = ["DEFAULT_ALGORITHMS", "GuardSettings"]

DEFAULT_ALGORITHMS = ("ES256", "EdDSA", "Ed25519", "RS256", "PS256")
_ASYMMETRIC = frozenset(
    {
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
        "Ed25519",
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
    }
)
_HMAC = frozenset({"HS256", "HS384", "HS512"})
MODES = ("jwt", "introspection", "session")
STANCES = ("serve", "refuse")


def _parse_str(raw: str) -> str:
    return raw


def _parse_opt_str(raw: str) -> str | None:
    return raw or None


def _parse_int(raw: str) -> int:
    return int(raw.strip())


def _parse_float(raw: str) -> float:
    return float(raw.strip())


def _parse_tuple(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _parse_bytes(raw: str) -> bytes | None:
    return raw.encode("utf-8") or None


def _env(parse: Callable[[str], Any]) -> dict[str, Any]:
    return {"parse": parse}


@dataclass(frozen=True)
class GuardSettings:
    """Everything a service's guard needs; validated on construction.

    ``mode`` picks how a credential becomes a :class:`~jwtmesh.guard.Principal`:
    ``"jwt"`` (local verification against the JWKS at ``jwks_url``),
    ``"introspection"`` (RFC 7662 at ``introspection_url``) or ``"session"``
    (a server-side session in Redis at ``redis_url``).
    """

    issuer: str = field(default="", metadata=_env(_parse_str))
    audience: str = field(default="", metadata=_env(_parse_str))
    jwks_url: str | None = field(default=None, metadata=_env(_parse_opt_str))
    algorithms: tuple[str, ...] = field(default=DEFAULT_ALGORITHMS, metadata=_env(_parse_tuple))
    secret_key: bytes | None = field(default=None, repr=False, metadata=_env(_parse_bytes))
    typ: str = field(default="at+jwt", metadata=_env(_parse_str))
    leeway: int = field(default=30, metadata=_env(_parse_int))
    max_token_size: int = field(default=8192, metadata=_env(_parse_int))
    mode: str = field(default="jwt", metadata=_env(_parse_str))
    introspection_url: str | None = field(default=None, metadata=_env(_parse_opt_str))
    client_id: str | None = field(default=None, metadata=_env(_parse_opt_str))
    client_secret: str | None = field(default=None, repr=False, metadata=_env(_parse_opt_str))
    introspection_cache_seconds: float = field(default=0.0, metadata=_env(_parse_float))
    redis_url: str | None = field(default=None, metadata=_env(_parse_opt_str))
    jwks_min_refetch_interval: float = field(default=10.0, metadata=_env(_parse_float))
    jwks_min_ttl: float = field(default=30.0, metadata=_env(_parse_float))
    jwks_max_ttl: float = field(default=3600.0, metadata=_env(_parse_float))
    jwks_max_bytes: int = field(default=65536, metadata=_env(_parse_int))
    jwks_max_keys: int = field(default=32, metadata=_env(_parse_int))
    token_cache_size: int = field(default=0, metadata=_env(_parse_int))
    token_cache_seconds: float = field(default=60.0, metadata=_env(_parse_float))
    revocation_url: str | None = field(default=None, metadata=_env(_parse_opt_str))
    revocation_redis_url: str | None = field(default=None, metadata=_env(_parse_opt_str))
    revocation_stream: str = field(default="jwtmesh:revocations", metadata=_env(_parse_str))
    revocation_stance: str = field(default="serve", metadata=_env(_parse_str))
    revocation_max_staleness: float = field(default=120.0, metadata=_env(_parse_float))
    revocation_max_entries: int = field(default=100_000, metadata=_env(_parse_int))
    policy_path: str | None = field(default=None, metadata=_env(_parse_opt_str))
    public_paths: tuple[str, ...] = field(default=("/healthz",), metadata=_env(_parse_tuple))
    realm: str = field(default="jwtmesh", metadata=_env(_parse_str))
    http_timeout: float = field(default=5.0, metadata=_env(_parse_float))

    def __post_init__(self) -> None:
        _check_required(self)
        _check_algorithms(self.algorithms, self.secret_key)
        _check_choices(self)
        _check_numbers(self)
        _check_mode(self)

    @classmethod
    def from_env(
        cls, prefix: str = "JWTMESH_GUARD_", environ: Mapping[str, str] | None = None
    ) -> GuardSettings:
        """Build from environment variables named ``prefix + FIELD`` (upper case).

        Lists (``ALGORITHMS``, ``PUBLIC_PATHS``) are comma separated.  A value
        that cannot be parsed raises :class:`SettingsError` naming the variable.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            name = prefix + spec.name.upper()
            if name in env:
                values[spec.name] = _parse_env(spec, name, env[name])
        try:
            return cls(**values)
        except SettingsError as exc:
            raise SettingsError(prefix + exc.field.upper(), str(exc).split(": ", 1)[1]) from None


def _parse_env(spec: dataclasses.Field[Any], name: str, raw: str) -> Any:
    try:
        return spec.metadata["parse"](raw)
    except ValueError:
        raise SettingsError(name, f"cannot parse the value as {spec.type}") from None


def _check_required(s: GuardSettings) -> None:
    for name in ("issuer", "audience"):
        if not isinstance(getattr(s, name), str) or not getattr(s, name):
            raise SettingsError(name, "is required")


def _check_algorithms(algorithms: tuple[str, ...], secret_key: bytes | None) -> None:
    if not algorithms:
        raise SettingsError("algorithms", "needs at least one algorithm")
    for alg in algorithms:
        if alg.lower() == "none":
            # RFC 8725 section 3.1: unsecured tokens are never acceptable here.
            raise SettingsError("algorithms", "'none' is never allowed")
        if alg in _HMAC and secret_key is None:
            raise SettingsError("algorithms", f"{alg} needs an explicitly given secret_key")
        if alg not in _ASYMMETRIC | _HMAC:
            raise SettingsError("algorithms", f"unsupported algorithm {alg!r}")


def _check_choices(s: GuardSettings) -> None:
    if s.mode not in MODES:
        raise SettingsError("mode", f"must be one of {', '.join(MODES)}")
    if s.revocation_stance not in STANCES:
        raise SettingsError("revocation_stance", f"must be one of {', '.join(STANCES)}")
    for path in s.public_paths:
        if not path.startswith("/"):
            raise SettingsError("public_paths", "every path must start with '/'")


def _check_numbers(s: GuardSettings) -> None:
    positive = (
        "max_token_size",
        "jwks_max_bytes",
        "jwks_max_keys",
        "revocation_max_entries",
        "jwks_min_ttl",
        "jwks_max_ttl",
        "revocation_max_staleness",
        "http_timeout",
    )
    not_negative = (
        "leeway",
        "introspection_cache_seconds",
        "jwks_min_refetch_interval",
        "token_cache_size",
        "token_cache_seconds",
    )
    for name in positive:
        if getattr(s, name) <= 0:
            raise SettingsError(name, "must be greater than zero")
    for name in not_negative:
        if getattr(s, name) < 0:
            raise SettingsError(name, "must not be negative")
    if s.jwks_max_ttl < s.jwks_min_ttl:
        raise SettingsError("jwks_max_ttl", "must not be below jwks_min_ttl")


def _check_mode(s: GuardSettings) -> None:
    if s.mode == "jwt" and s.jwks_url is None and s.secret_key is None:
        raise SettingsError("jwks_url", "is required in jwt mode (or give secret_key)")
    if s.mode == "introspection":
        for name in ("introspection_url", "client_id", "client_secret"):
            if not getattr(s, name):
                raise SettingsError(name, "is required in introspection mode")
    if s.mode == "session" and not s.redis_url:
        raise SettingsError("redis_url", "is required in session mode")
    if s.revocation_url and not (s.client_id and s.client_secret):
        raise SettingsError("client_id", "client credentials are required for the revocation feed")
