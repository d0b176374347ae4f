"""Settings of the authority, read from ``JWTMESH_*`` environment variables."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jwtmesh.authority._errors import SettingsError
from jwtmesh.authority._throttle import parse_networks

__all__ = ["KEK_BYTES", "AuthoritySettings", "decode_kek"]

PREFIX = "JWTMESH_"
KEK_BYTES = 32
_SIGNING_ALGS = ("ES256", "EdDSA", "RS256", "PS256")
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _env(name: str) -> str:
    return PREFIX + name.upper()


@dataclass(frozen=True)
class AuthoritySettings:
    """Everything the authority needs; each field is ``JWTMESH_<FIELD>`` in the environment.

    Build with :meth:`from_env`, or directly (tests, the CLI); both validate,
    and a bad value raises :class:`SettingsError` naming the variable.
    The KEK (``JWTMESH_KEK``, base64url of 32 bytes, or ``JWTMESH_KEK_FILE``)
    may be missing here; the server and ``add_client`` refuse to run without it.
    """

    issuer: str = "http://127.0.0.1:8000"
    database_url: str = "sqlite:///./jwtmesh.db"
    access_ttl: int = 300
    refresh_ttl: int = 8 * 3600
    refresh_reuse_grace: float = 5.0
    signing_alg: str = "ES256"
    kek: bytes | None = field(default=None, repr=False)
    policy_file: Path | None = None
    embed_permissions: bool = False
    max_body_bytes: int = 64 * 1024
    jwks_max_age: int = 300
    client_cache_ttl: float = 30.0
    revocation_wait_max: float = 25.0
    # Redis stream the revocations are published to when ``redis_url`` is set.
    revocation_stream: str = "jwtmesh:revocations"
    default_client_id: str = "shop-web"
    default_audiences: tuple[str, ...] = ("gateway", "users", "catalog", "orders")
    default_scopes: tuple[str, ...] = ("openid", "profile")
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    log_level: str = "info"
    # Key ring life cycle: 0 = rotate by hand only; ``key_publish_ahead`` None = derived.
    key_rotation_interval: int = 0
    key_publish_ahead: float | None = None
    key_retire_leeway: float = 60.0
    key_tick_interval: float = 5.0
    # Login and client-authentication throttling (see docs/security.md).
    throttle_enabled: bool = True
    throttle_free_failures: int = 5
    throttle_free_failures_per_address: int = 20
    throttle_base_delay: float = 1.0
    throttle_max_delay: float = 900.0
    throttle_forget_after: float = 3600.0
    throttle_max_entries: int = 100_000
    throttle_redis_prefix: str = "jwtmesh:throttle:"
    redis_url: str | None = field(default=None, repr=False)
    trusted_proxies: tuple[str, ...] = ()
    # Server-side sessions on login (the benchmark's baseline); None = off.
    sessions_redis_url: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check_issuer(self.issuer)
        if not self.database_url.startswith(("sqlite:", "postgresql", "postgres:")):
            raise SettingsError(_env("database_url"), "must be a sqlite:/// or postgresql URL")
        for name in ("access_ttl", "refresh_ttl", "max_body_bytes", "argon2_time_cost"):
            _positive(name, getattr(self, name))
        for name in ("refresh_reuse_grace", "jwks_max_age", "client_cache_ttl"):
            if getattr(self, name) < 0:
                raise SettingsError(_env(name), "must not be negative")
        self._check_choices()
        if self.kek is not None and len(self.kek) != KEK_BYTES:
            raise SettingsError(_env("kek"), f"must be {KEK_BYTES} bytes")
        if not 0 < self.revocation_wait_max <= 25:
            raise SettingsError(_env("revocation_wait_max"), "must be in (0, 25]")
        if self.argon2_memory_kib < 8:
            raise SettingsError(_env("argon2_memory_kib"), "must be at least 8")
        self._check_key_timing()
        self._check_throttle()

    def _check_throttle(self) -> None:
        for name in ("throttle_free_failures", "throttle_free_failures_per_address"):
            if getattr(self, name) < 0:
                raise SettingsError(_env(name), "must not be negative")
        for name in ("throttle_base_delay", "throttle_max_entries"):
            _positive(name, getattr(self, name))
        if self.throttle_max_delay < self.throttle_base_delay:
            raise SettingsError(
                _env("throttle_max_delay"), "must be >= JWTMESH_THROTTLE_BASE_DELAY"
            )
        if self.throttle_forget_after < self.throttle_max_delay:
            raise SettingsError(
                _env("throttle_forget_after"), "must be >= JWTMESH_THROTTLE_MAX_DELAY"
            )
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise SettingsError(_env("redis_url"), "must be a redis://, rediss:// or unix:// URL")
        parse_networks(_env("trusted_proxies"), self.trusted_proxies)
        url = self.sessions_redis_url
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(
                _env("sessions_redis_url"), "must be a redis://, rediss:// or unix:// URL"
            )

    def _check_key_timing(self) -> None:
        if self.key_tick_interval <= 0:
            raise SettingsError(_env("key_tick_interval"), "must be greater than zero")
        if self.key_retire_leeway < self.key_tick_interval:
            # Another authority process may sign with a key for up to one tick after it
            # stopped signing: its tokens must still find the key published.
            raise SettingsError(
                _env("key_retire_leeway"), "must be at least JWTMESH_KEY_TICK_INTERVAL"
            )
        ahead = self.key_publish_ahead
        if ahead is not None and not ahead > self.jwks_max_age:
            raise SettingsError(
                _env("key_publish_ahead"),
                f"must be greater than JWTMESH_JWKS_MAX_AGE ({self.jwks_max_age} s): "
                "guards must have fetched a next key before it signs",
            )
        interval = self.key_rotation_interval
        if interval < 0 or 0 < interval <= self.publish_ahead:
            raise SettingsError(
                _env("key_rotation_interval"),
                f"must be 0 (rotate by hand only) or more than the publish-ahead time "
                f"({self.publish_ahead:g} s)",
            )

    @property
    def publish_ahead(self) -> float:
        """Seconds a ``next`` key is published before it may sign.

        ``key_publish_ahead`` when set, else twice ``jwks_max_age`` (at least
        two key-ring ticks).
        """
        if self.key_publish_ahead is not None:
            return self.key_publish_ahead
        return float(max(2 * self.jwks_max_age, 2 * self.key_tick_interval))

    @property
    def retire_grace(self) -> float:
        """Seconds a key stays published after it stopped signing: access_ttl + leeway."""
        return self.access_ttl + self.key_retire_leeway

    def _check_choices(self) -> None:
        if self.signing_alg not in _SIGNING_ALGS:
            raise SettingsError(_env("signing_alg"), f"must be one of {', '.join(_SIGNING_ALGS)}")
        if self.log_level not in _LOG_LEVELS:
            raise SettingsError(_env("log_level"), f"must be one of {', '.join(_LOG_LEVELS)}")
        if not self.default_client_id:
            raise SettingsError(_env("default_client_id"), "must not be empty")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthoritySettings:
        """Read ``JWTMESH_*`` variables (``os.environ`` by default); unset ones keep defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(_env(f.name))
            if raw is not None and f.name != "kek":
                values[f.name] = _PARSERS.get(f.name, _as_str)(_env(f.name), raw)
        values["kek"] = _read_kek(env)

        return cls(**values)

    @property
    def issuer_base(self) -> str:
        """The issuer without a trailing slash, to append endpoint paths to."""
        return self.issuer.rstrip("/")

    def require_kek(self) -> bytes:
        """The KEK, or a :class:`SettingsError` telling how to provide one."""
        if self.kek is None:
            raise SettingsError(
                "JWTMESH_KEK",
                "no key-encryption key: set JWTMESH_KEK to base64url of 32 random bytes "
                "(e.g. python -c 'import secrets,base64;"
                "print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())') "
                "or JWTMESH_KEK_FILE to a file holding it",
            )
        return self.kek


def decode_kek(field_name: str, text: str) -> bytes:
    """Decode a base64url (padding optional) KEK of exactly 32 bytes; never echo it."""
    cleaned = text.strip()
    try:
        raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raise SettingsError(field_name, "is not base64url") from None
    if len(raw) != KEK_BYTES:
        raise SettingsError(field_name, f"must decode to {KEK_BYTES} bytes, not {len(raw)}")
    return raw


def _read_kek(env: Mapping[str, str]) -> bytes | None:
    inline, path = env.get("JWTMESH_KEK"), env.get("JWTMESH_KEK_FILE")
    if inline and path:
        raise SettingsError("JWTMESH_KEK_FILE", "set JWTMESH_KEK or JWTMESH_KEK_FILE, not both")
    if inline:
        return decode_kek("JWTMESH_KEK", inline)
    if path:
        try:
            text = Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not ASCII text"
            raise SettingsError("JWTMESH_KEK_FILE", f"cannot read {path}: {reason}") from None
        return decode_kek("JWTMESH_KEK_FILE", text)
    return None


def _check_issuer(issuer: str) -> None:
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(_env("issuer"), "must be an http(s) URL such as https://auth.example")
    if parts.query or parts.fragment:
        raise SettingsError(_env("issuer"), "must have no query or fragment (RFC 8414)")


def _positive(name: str, value: int) -> None:
    if value <= 0:
        raise SettingsError(_env(name), "must be a positive integer")


def _as_str(name: str, raw: str) -> str:
    return raw.strip()


def _as_opt_str(name: str, raw: str) -> str | None:
    return raw.strip() or None


def _as_int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise SettingsError(name, "must be an integer") from None


def _as_float(name: str, raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise SettingsError(name, "must be a number") from None


def _as_opt_float(name: str, raw: str) -> float | None:
    return _as_float(name, raw) if raw.strip() else None


def _as_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(name, "must be true or false")


def _as_list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(item for item in raw.replace(",", " ").split() if item)


def _as_path(name: str, raw: str) -> Path | None:
    return Path(raw.strip()) if raw.strip() else None


def _as_level(name: str, raw: str) -> str:
    return raw.strip().lower()


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "access_ttl": _as_int,
    "refresh_ttl": _as_int,
    "refresh_reuse_grace": _as_float,
    "embed_permissions": _as_bool,
    "policy_file": _as_path,
    "max_body_bytes": _as_int,
    "jwks_max_age": _as_int,
    "client_cache_ttl": _as_float,
    "revocation_wait_max": _as_float,
    "default_audiences": _as_list,
    "default_scopes": _as_list,
    "argon2_time_cost": _as_int,
    "argon2_memory_kib": _as_int,
    "log_level": _as_level,
    "key_rotation_interval": _as_int,
    "key_publish_ahead": _as_opt_float,
    "key_retire_leeway": _as_float,
    "key_tick_interval": _as_float,
    "throttle_enabled": _as_bool,
    "throttle_free_failures": _as_int,
    "throttle_free_failures_per_address": _as_int,
    "throttle_base_delay": _as_float,
    "throttle_max_delay": _as_float,
    "throttle_forget_after": _as_float,
    "throttle_max_entries": _as_int,
    "redis_url": _as_opt_str,
    "trusted_proxies": _as_list,
    "sessions_redis_url": _as_opt_str,
}
