"""The interfaces the authority needs from a store, one small protocol each.

:class:`jwtmesh.store.SqlStore` implements all of them; another backend may
implement only the ones it is good at.  Times are POSIX seconds (float).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from jwtmesh.store._records import (
    ClientRecord,
    KeyState,
    RefreshTokenRecord,
    RevocationEvent,
    SigningKeyRecord,
    UserRecord,
)

__all__ = [
    "ClientStore",
    "EventStore",
    "KeyStore",
    "RefreshTokenStore",
    "RevocationStore",
    "Store",
    "UserStore",
]

_T = TypeVar("_T")


class UserStore(Protocol):
    """Users who log in with a password."""

    def add_user(
        self, username: str, password_hash: str, roles: Sequence[str], now: float
    ) -> UserRecord:
        """Store a new user; raise ``AlreadyExistsError`` if the name is taken."""
        ...

    def get_user(self, user_id: int) -> UserRecord | None:
        """The user with this id, or None."""
        ...

    def get_user_by_name(self, username: str) -> UserRecord | None:
        """The user with this name, or None."""
        ...

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a user's password hash (after a rehash or a reset)."""
        ...

    def set_user_disabled(self, username: str, disabled: bool) -> bool:
        """Disable or enable a user; False if there is no such user."""
        ...


class ClientStore(Protocol):
    """OAuth clients (services and front ends)."""

    def add_client(self, client: ClientRecord) -> None:
        """Store a new client; raise ``AlreadyExistsError`` if the id is taken."""
        ...

    def get_client(self, client_id: str) -> ClientRecord | None:
        """The client with this id, or None."""
        ...


class RefreshTokenStore(Protocol):
    """Refresh tokens, single use, grouped in families."""

    def add_refresh_token(self, token: RefreshTokenRecord) -> None:
        """Store a freshly issued refresh token."""
        ...

    def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        """The token with this hash, or None."""
        ...

    def rotate_refresh_token(
        self, token_hash: str, successor: RefreshTokenRecord, now: float
    ) -> bool:
        """Mark a token used and store its successor, atomically.

        Return False (and store nothing) when the token is already used or
        revoked: exactly one of two concurrent rotations wins.
        """
        ...

    def redeem_refresh_token(
        self,
        token_hash: str,
        successor_hash: str,
        now: float,
        expires_at: float,
        check: Callable[[RefreshTokenRecord, UserRecord | None], _T],
    ) -> _T | None:
        """Consume a usable token, check it and store its successor, atomically.

        ``check`` sees the consumed token (``used_at`` set) and its user (None
        if gone) inside the transaction; when it raises, nothing is written
        and the error propagates.  Otherwise the successor (same family, user,
        client, audience and scope; issued at ``now``) is stored and what
        ``check`` returned is returned.  None, with nothing written, when the
        token is unknown, used or revoked: exactly one of two concurrent
        redemptions wins.
        """
        ...

    def revoke_family(self, family_id: str) -> int:
        """Revoke every token of a family; return how many were changed."""
        ...


class KeyStore(Protocol):
    """Signing keys and their rotation states."""

    def add_signing_key(self, key: SigningKeyRecord) -> None:
        """Store a new key."""
        ...

    def list_signing_keys(self, states: Iterable[KeyState] | None = None) -> list[SigningKeyRecord]:
        """Keys in the given states (all when None), oldest first."""
        ...

    def update_signing_keys(
        self, changed: Sequence[SigningKeyRecord], added: Sequence[SigningKeyRecord]
    ) -> None:
        """Overwrite the state and times of ``changed`` and store ``added``, atomically."""
        ...

    def get_signing_key(self, kid: str) -> SigningKeyRecord | None:
        """The key with this ``kid`` in any state, or None."""
        ...

    def transition_signing_keys(
        self,
        changes: Sequence[tuple[KeyState, SigningKeyRecord]],
        added: Sequence[SigningKeyRecord] = (),
        *,
        unless: KeyState | None = None,
    ) -> bool:
        """Move keys from an expected state to a new one and store ``added``, atomically.

        Return False, writing nothing, when a key is not in its expected state
        or a key in state ``unless`` exists (another process got there first).
        A key moved to ``retired`` loses its sealed private key.
        """
        ...


class RevocationStore(Protocol):
    """Revoked access-token ids and sessions, kept until their tokens would expire."""

    def revoke_jti(self, jti: str, exp: float, now: float) -> int | None:
        """Record a revocation and append a feed event; return the event id.

        Return None when the jti was already revoked (nothing is appended).
        """
        ...

    def revoke_session(self, sid: str, exp: float, now: float) -> int | None:
        """Revoke a refresh-token family and its access tokens (``sid``) until ``exp``.

        Atomically: the family's refresh tokens are revoked, ``sid`` is
        recorded and a feed event appended; return its id, or None when
        ``sid`` was already revoked until ``exp`` or later.
        """
        ...

    def is_revoked(self, jti: str) -> bool:
        """True when the jti is revoked."""
        ...

    def is_session_revoked(self, sid: str) -> bool:
        """True when the session (refresh-token family) ``sid`` is revoked."""
        ...

    def purge_expired(self, now: float) -> int:
        """Drop revocations, revoked sessions and events that expired; return the count."""
        ...


class EventStore(Protocol):
    """The revocation feed read by the guards."""

    def events_after(self, cursor: int, limit: int = 1000) -> list[RevocationEvent]:
        """Events with an id greater than ``cursor``, in id order."""
        ...

    def last_event_id(self) -> int:
        """The greatest event id, 0 when there is none."""
        ...


class Store(
    UserStore, ClientStore, RefreshTokenStore, KeyStore, RevocationStore, EventStore, Protocol
):
    """Everything the authority keeps, in one backend."""

    def purge_refresh_tokens(self, now: float) -> int:
        """Delete expired refresh tokens; return how many."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
