"""Assemble an :class:`Authority` from settings: store, keys, policy, default client."""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa

from jwtmesh.authority._clients import ClientRegistry
from jwtmesh.authority._errors import SettingsError, StartupError
from jwtmesh.authority._keyring import KeyRing
from jwtmesh.authority._secrets import ClientSecretHasher, Passwords
from jwtmesh.authority._service import Authority
from jwtmesh.authority._settings import AuthoritySettings
from jwtmesh.authority._tokens import GRANT_LOGIN, GRANT_REFRESH, AccessTokenIssuer
from jwtmesh.guard.policy import Policy, PolicyError
from jwtmesh.store import AlreadyExistsError, ClientRecord, SqlStore, Store

__all__ = ["build_authority", "load_policy", "open_store", "passwords_for"]

logger = logging.getLogger(__name__)


def open_store(settings: AuthoritySettings) -> SqlStore:
    """Connect to the configured database and apply pending migrations."""
    try:
        return SqlStore.open(settings.database_url)
    except Exception as exc:
        # The URL may hold a password: name the problem, not the URL.
        raise StartupError(
            f"cannot open the database (JWTMESH_DATABASE_URL): {_reason(exc, settings)}"
        ) from exc


def _reason(exc: Exception, settings: AuthoritySettings) -> str:
    """The driver's first line of explanation, with the URL's password blotted out."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()[0][:200] if str(cause).strip() else ""
    password = sa.make_url(settings.database_url).password
    if password:
        text = text.replace(str(password), "***")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_policy(settings: AuthoritySettings) -> Policy | None:
    """The role -> permission policy, if a file is configured."""
    if settings.policy_file is None:
        return None
    try:
        return Policy.load(settings.policy_file)
    except PolicyError as exc:
        raise StartupError(f"JWTMESH_POLICY_FILE: {exc}") from None


def passwords_for(settings: AuthoritySettings) -> Passwords:
    """The password hasher with the configured argon2id cost."""
    return Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)


def build_authority(settings: AuthoritySettings, store: Store | None = None) -> Authority:
    """Everything the server needs; raise :class:`StartupError` on a missing or wrong KEK."""
    try:
        kek = settings.require_kek()
    except SettingsError as exc:
        raise StartupError(str(exc)) from None
    policy = load_policy(settings)
    store = store if store is not None else open_store(settings)
    keyring = KeyRing(store, kek, settings.signing_alg)
    try:
        keyring.load()
    except StartupError:
        store.close()
        raise
    _ensure_default_client(store, settings)
    issuer = AccessTokenIssuer(
        settings.issuer, keyring, settings.access_ttl, policy, settings.embed_permissions
    )
    clients = ClientRegistry(store, ClientSecretHasher(kek), settings.client_cache_ttl)

    return Authority(settings, store, keyring, issuer, clients, passwords_for(settings))


def _ensure_default_client(store: Store, settings: AuthoritySettings) -> None:
    """Create the public first-party client (``shop-web``) on first start."""
    if store.get_client(settings.default_client_id) is not None:
        return
    client = ClientRecord(
        client_id=settings.default_client_id,
        secret_digest=None,
        grant_types=(GRANT_LOGIN, GRANT_REFRESH),
        audiences=settings.default_audiences,
        scopes=settings.default_scopes,
        roles=(),
        created_at=time.time(),
    )
    try:
        store.add_client(client)
        logger.info("created the default public client %s", client.client_id)
    except AlreadyExistsError:
        pass  # another process created it first
