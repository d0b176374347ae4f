"""The running demo: the authority and every service, each its own process and port."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from jwtmesh.authority import (
    GRANT_CLIENT_CREDENTIALS,
    GRANT_TOKEN_EXCHANGE,
    AuthoritySettings,
    add_client,
    add_user,
)

from ._process import Child, Listener, StartupFailedError, spawn, stop_all, wait_healthy
from ._topology import DEFAULT_POLICY, ServiceSpec, Topology

__all__ = ["MODES", "Account", "DemoSystem", "ServiceEndpoint", "StartupFailedError"]

logger = logging.getLogger(__name__)

MODES = ("jwt", "introspection", "session")
_ACCOUNTS = (("admin", "admin"), ("alice", "user"), ("bob", "user"), ("guest", "guest"))


@dataclass(frozen=True)
class Account:
    """A demo account; the password is random for each run."""

    username: str
    password: str = field(repr=False)
    role: str


@dataclass(frozen=True)
class ServiceEndpoint:
    """A running service: where it listens, its audience, a GET path any logged-in user may call."""

    name: str
    url: str
    audience: str
    probe: str
    client_id: str
    client_secret: str = field(repr=False)


class DemoSystem:
    """Starts the authority and the services of a :class:`Topology`; stops them all.

    >>> with DemoSystem() as demo:                            # doctest: +SKIP
    ...     demo.services["gateway"].url, demo.accounts[0].username

    ``mode`` ("jwt", "introspection", "session") goes to every guard as
    ``JWTMESH_GUARD_MODE``; ``extra_env`` is added to every child's
    environment (tuning for benchmarks).  State (KEK file, databases, logs)
    lives in ``state_dir`` (a fresh temporary directory by default, removed on
    :meth:`stop` unless ``keep_state``).
    """

    def __init__(
        self,
        *,
        mode: str = "jwt",
        topology: Topology | None = None,
        policy: Path = DEFAULT_POLICY,
        state_dir: Path | None = None,
        keep_state: bool = False,
        redis_url: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.mode = mode
        self.topology = topology or Topology.load()
        self.policy = policy
        self._own_state = state_dir is None
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="jwtmesh-demo-"))
        self.keep_state = keep_state
        self.redis_url = redis_url
        self.extra_env = dict(extra_env or {})
        self.startup_timeout = startup_timeout
        self.children: list[Child] = []
        self.services: dict[str, ServiceEndpoint] = {}
        self.accounts: tuple[Account, ...] = ()
        self._authority_settings: AuthoritySettings | None = None
        self._secrets: dict[str, str] = {}

    # -- life cycle ----------------------------------------------------------

    def __enter__(self) -> DemoSystem:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Set up the authority's database, start every process, wait until all are healthy.

        On any failure the processes started so far are stopped (their logs
        are kept until :meth:`stop`) and the error propagates;
        :class:`StartupFailedError` names the process that failed.
        """
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        listeners = self._bind()
        try:
            self._setup_authority(listeners["authority"].url)
            self._spawn_all(listeners)
            listeners = _closed(listeners)
            wait_healthy(self.children, self.urls, self.startup_timeout)
        except BaseException:
            _closed(listeners)
            stop_all(self.children)
            raise
        logger.info("demo up in %.1fs", time.monotonic() - started)

    def stop(self) -> None:
        """Stop every process this system started (SIGTERM, then SIGKILL); remove its state."""
        children, self.children = self.children, []
        # Services first: they close their feed long-polls before the authority stops.
        stop_all([c for c in children if c.name != "authority"])
        stop_all([c for c in children if c.name == "authority"])
        if self._own_state and not self.keep_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # -- what is running -----------------------------------------------------

    @property
    def authority_settings(self) -> AuthoritySettings:
        """The authority's settings (with the KEK: for offline operator tasks only)."""
        if self._authority_settings is None:
            raise RuntimeError("the demo system is not started")
        return self._authority_settings

    @property
    def issuer(self) -> str:
        """The authority's issuer URL (also its base URL)."""
        return self.authority_settings.issuer_base

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of every process, the authority included."""
        return {"authority": self.issuer, **{n: s.url for n, s in self.services.items()}}

    @property
    def jwks_url(self) -> str:
        """The authority's JWKS."""
        return f"{self.issuer}/.well-known/jwks.json"

    @property
    def login_url(self) -> str:
        """``POST`` JSON ``{"username", "password"}`` here to log in."""
        return f"{self.issuer}/login"

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint (refresh, client credentials, token exchange)."""
        return f"{self.issuer}/oauth/token"

    def account(self, username: str) -> Account:
        """The account called ``username``."""
        return next(a for a in self.accounts if a.username == username)

    def pids(self) -> dict[str, int]:
        """Process id of every child, by name."""
        return {child.name: child.pid for child in self.children}

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The end of one child's log (empty if unknown)."""
        child = next((c for c in self.children if c.name == name), None)
        if child is not None:
            return child.log_tail(lines)
        path = self.state_dir / "logs" / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace")[-4000:] if path.exists() else ""

    def info(self) -> dict[str, Any]:
        """URLs, audiences, probe paths and accounts, as written by ``demo up --info``."""
        return {
            "issuer": self.issuer,
            "jwks_url": self.jwks_url,
            "login_url": self.login_url,
            "token_url": self.token_url,
            "mode": self.mode,
            "services": {
                name: {"url": s.url, "audience": s.audience, "probe": s.probe}
                for name, s in self.services.items()
            },
            "accounts": [
                {"username": a.username, "password": a.password, "role": a.role}
                for a in self.accounts
            ],
        }

    # -- start-up steps ------------------------------------------------------

    def _bind(self) -> dict[str, Listener]:
        listeners: dict[str, Listener] = {}
        try:
            listeners["authority"] = Listener.bind(self.topology.authority_port)
            for spec in self.topology.services:
                listeners[spec.name] = Listener.bind(spec.port)
        except OSError:
            for listener in listeners.values():
                listener.close()
            raise
        return listeners

    def _setup_authority(self, issuer: str) -> None:
        """Create the database, the accounts and one client per service, before any start."""
        kek = secrets.token_bytes(32)
        kek_file = self.state_dir / "kek"
        kek_file.write_text(base64.urlsafe_b64encode(kek).decode("ascii"), encoding="ascii")
        kek_file.chmod(0o600)
        settings = AuthoritySettings(
            issuer=issuer,
            database_url=f"sqlite:///{self.state_dir / 'authority.db'}",
            access_ttl=self.topology.access_ttl,
            refresh_ttl=self.topology.refresh_ttl,
            refresh_reuse_grace=0.0,  # a replayed refresh token revokes its family at once
            kek=kek,
            policy_file=self.policy,
            default_audiences=tuple(s.audience for s in self.topology.services),
            # OWASP's minimum argon2id cost: the demo starts and logs in quickly.
            argon2_time_cost=2,
            argon2_memory_kib=19 * 1024,
            log_level="warning",
        )
        self._authority_settings = settings
        self.accounts = tuple(
            Account(name, secrets.token_urlsafe(12), role) for name, role in _ACCOUNTS
        )
        for account in self.accounts:
            add_user(settings, account.username, account.password, [account.role])
        self._secrets = {
            spec.name: self._add_client(settings, spec) for spec in self.topology.services
        }

    @staticmethod
    def _add_client(settings: AuthoritySettings, spec: ServiceSpec) -> str:
        grants = [GRANT_CLIENT_CREDENTIALS]
        if spec.client_audiences:
            grants.append(GRANT_TOKEN_EXCHANGE)
        return add_client(
            settings,
            spec.name,
            spec.client_audiences or [spec.audience],
            grant_types=grants,
            roles=spec.client_roles,
        )

    def _spawn_all(self, listeners: Mapping[str, Listener]) -> None:
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        for spec in self.topology.services:
            self.services[spec.name] = ServiceEndpoint(
                spec.name,
                listeners[spec.name].url,
                spec.audience,
                spec.probe,
                spec.name,
                self._secrets[spec.name],
            )
        # Every socket already listens: a process may start before its neighbours.
        self._spawn("authority", ["authority"], self._authority_env(), listeners, logs)
        for spec in self.topology.services:
            args = [spec.name, "--module", spec.module]
            self._spawn(spec.name, args, self._service_env(spec), listeners, logs)

    def _spawn(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        listeners: Mapping[str, Listener],
        logs: Path,
    ) -> None:
        self.children.append(spawn(name, args, env, logs / f"{name}.log", listeners[name]))

    def _authority_env(self) -> dict[str, str]:
        s = self.authority_settings
        values = {
            "ISSUER": s.issuer,
            "DATABASE_URL": s.database_url,
            "ACCESS_TTL": str(s.access_ttl),
            "REFRESH_TTL": str(s.refresh_ttl),
            "REFRESH_REUSE_GRACE": str(s.refresh_reuse_grace),
            "KEK_FILE": str(self.state_dir / "kek"),
            "POLICY_FILE": str(self.policy),
            "DEFAULT_AUDIENCES": ",".join(s.default_audiences),
            "ARGON2_TIME_COST": str(s.argon2_time_cost),
            "ARGON2_MEMORY_KIB": str(s.argon2_memory_kib),
            "LOG_LEVEL": s.log_level,
        }
        return _child_env({f"JWTMESH_{k}": v for k, v in values.items()}, self.extra_env)

    def _service_env(self, spec: ServiceSpec) -> dict[str, str]:
        endpoint = self.services[spec.name]
        guard = {
            "ISSUER": self.issuer,
            "AUDIENCE": spec.audience,
            "JWKS_URL": self.jwks_url,
            "MODE": self.mode,
            "POLICY_PATH": str(self.policy),
            "LEEWAY": str(self.topology.leeway),
            "HTTP_TIMEOUT": "10",
            "CLIENT_ID": endpoint.client_id,
            "CLIENT_SECRET": endpoint.client_secret,
            "REVOCATION_URL": f"{self.issuer}/oauth/revocations",
            "INTROSPECTION_URL": f"{self.issuer}/oauth/introspect",
        }
        if self.redis_url:
            guard["REDIS_URL"] = self.redis_url
        env = {f"JWTMESH_GUARD_{k}": v for k, v in guard.items()}
        env["JWTMESH_DEMO_STATE_DIR"] = str(self.state_dir / spec.name)
        env["JWTMESH_DEMO_TOKEN_URL"] = self.token_url
        for upstream in spec.upstreams:
            env[f"JWTMESH_DEMO_UPSTREAM_{upstream.upper()}"] = self.services[upstream].url
        return _child_env(env, self.extra_env)


def _closed(listeners: Mapping[str, Listener]) -> dict[str, Listener]:
    """Close the parent's copies of the sockets (the children hold theirs)."""
    for listener in listeners.values():
        listener.close()
    return {}


def _child_env(own: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without its ``JWTMESH_*`` settings, plus ours."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("JWTMESH_")}
    return {**base, **own, **extra}
