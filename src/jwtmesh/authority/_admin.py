"""Functions behind the CLI: add users and clients, run the server."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from jwtmesh.authority._errors import SettingsError
from jwtmesh.authority._secrets import ClientSecretHasher, new_client_secret
from jwtmesh.authority._settings import AuthoritySettings
from jwtmesh.authority._setup import open_store, passwords_for
from jwtmesh.authority._tokens import (
    GRANT_CLIENT_CREDENTIALS,
    GRANT_LOGIN,
    GRANT_REFRESH,
    GRANT_TOKEN_EXCHANGE,
)
from jwtmesh.store import ClientRecord, UserRecord

__all__ = ["KNOWN_GRANT_TYPES", "add_client", "add_public_client", "add_user", "serve"]

logger = logging.getLogger(__name__)

KNOWN_GRANT_TYPES = (GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE, GRANT_REFRESH, GRANT_LOGIN)


def add_user(
    settings: AuthoritySettings, username: str, password: str, roles: Sequence[str]
) -> UserRecord:
    """Store a user with an argon2id hash of ``password``; ``AlreadyExistsError`` if taken."""
    if not username or len(username) > 200:
        raise ValueError("username must be 1 to 200 characters")
    if not password:
        raise ValueError("password must not be empty")
    store = open_store(settings)
    try:
        password_hash = passwords_for(settings).hash(password)
        return store.add_user(username, password_hash, list(roles), time.time())
    finally:
        store.close()


def add_client(
    settings: AuthoritySettings,
    client_id: str,
    audiences: Sequence[str],
    grant_types: Sequence[str] = (GRANT_CLIENT_CREDENTIALS,),
    scopes: Sequence[str] = (),
    roles: Sequence[str] = (),
) -> str:
    """Store a confidential client and return its secret (shown once, stored as HMAC)."""
    hasher = ClientSecretHasher(settings.require_kek())
    secret = new_client_secret()
    _store_client(settings, client_id, hasher.digest(secret), audiences, grant_types, scopes, roles)

    return secret


def add_public_client(
    settings: AuthoritySettings,
    client_id: str,
    audiences: Sequence[str],
    grant_types: Sequence[str] = (GRANT_LOGIN, GRANT_REFRESH),
    scopes: Sequence[str] = (),
) -> None:
    """Store a public client (a browser or app front end: no secret)."""
    if GRANT_CLIENT_CREDENTIALS in grant_types or GRANT_TOKEN_EXCHANGE in grant_types:
        raise ValueError("a public client cannot use client_credentials or token exchange")
    _store_client(settings, client_id, None, audiences, grant_types, scopes, ())


def _store_client(
    settings: AuthoritySettings,
    client_id: str,
    digest: bytes | None,
    audiences: Sequence[str],
    grant_types: Sequence[str],
    scopes: Sequence[str],
    roles: Sequence[str],
) -> None:
    unknown = sorted(set(grant_types) - set(KNOWN_GRANT_TYPES))
    if unknown:
        raise ValueError(f"unknown grant types: {', '.join(unknown)}")
    if not client_id or len(client_id) > 200 or ":" in client_id:
        raise ValueError("client_id must be 1 to 200 characters, without ':'")
    record = ClientRecord(
        client_id=client_id,
        secret_digest=digest,
        grant_types=tuple(grant_types),
        audiences=tuple(audiences),
        scopes=tuple(scopes),
        roles=tuple(roles),
        created_at=time.time(),
    )
    store = open_store(settings)
    try:
        store.add_client(record)
    finally:
        store.close()


def serve(
    settings: AuthoritySettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str | None = None,
) -> None:
    """Run the authority with uvicorn (uvloop, httptools), one process, until stopped."""
    import uvicorn

    from jwtmesh.authority._app import create_app

    if not 0 <= port <= 65535:
        raise SettingsError("port", "must be between 0 and 65535")
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        workers=1,
        log_level=log_level or settings.log_level,
        server_header=False,
        # X-Forwarded-For is read by the authority itself, and only from
        # JWTMESH_TRUSTED_PROXIES; uvicorn must not rewrite the peer address first.
        proxy_headers=False,
        # Long-polling guards hold requests open; do not wait for them on SIGTERM.
        timeout_graceful_shutdown=2,
    )
