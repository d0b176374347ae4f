"""One SQLAlchemy Core store for SQLite and PostgreSQL.

Every write runs in its own transaction and is committed before the method
returns, so an HTTP answer is only sent for data that is on disk.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from jwtmesh.store import _schema as t
from jwtmesh.store._engine import create_engine, migrate_engine
from jwtmesh.store._records import (
    AlreadyExistsError,
    ClientRecord,
    KeyState,
    RefreshTokenRecord,
    RevocationEvent,
    SigningKeyRecord,
    UserRecord,
)

__all__ = ["SqlStore"]

_T = TypeVar("_T")

# Hot-path statements are built once: SQLAlchemy then reuses their cache key
# and compiled form instead of rebuilding both on every call.
_rt = t.refresh_tokens
_SELECT_USER = sa.select(t.users)
_USER_BY_ID = _SELECT_USER.where(t.users.c.id == sa.bindparam("p_id"))
_USER_BY_NAME = _SELECT_USER.where(t.users.c.username == sa.bindparam("p_name"))
_CLIENT_BY_ID = sa.select(t.clients).where(t.clients.c.client_id == sa.bindparam("p_id"))
_REFRESH_BY_HASH = sa.select(_rt).where(_rt.c.token_hash == sa.bindparam("p_hash"))
_INSERT_REFRESH = sa.insert(_rt)
# The conditional UPDATE is the lock: of two concurrent rotations only one
# matches the row while used_at is still NULL.
_CONSUME_REFRESH = (
    sa.update(_rt)
    .where(
        _rt.c.token_hash == sa.bindparam("p_hash"),
        _rt.c.used_at.is_(None),
        _rt.c.revoked.is_(False),
    )
    .values(used_at=sa.bindparam("p_now"), replaced_by=sa.bindparam("p_successor"))
)
_CONSUME_REFRESH_RETURNING = _CONSUME_REFRESH.returning(*_rt.c)


class SqlStore:
    """Users, clients, refresh tokens, keys, revocations and events in one database.

    Implements every protocol of :mod:`jwtmesh.store.protocols`.  Thread safe:
    the authority calls it from a thread pool.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # Feed events are written one at a time so that ids become visible in
        # order: a reader must never see id 5 committed while id 4 is pending.
        self._event_lock = threading.Lock()

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> SqlStore:
        """Connect to ``url`` and, unless told otherwise, apply pending migrations."""
        engine = create_engine(url)
        if migrate:
            migrate_engine(engine)
        return cls(engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    # -- users ---------------------------------------------------------------

    def add_user(
        self, username: str, password_hash: str, roles: Sequence[str], now: float
    ) -> UserRecord:
        """Store a new user; raise ``AlreadyExistsError`` if the name is taken."""
        values = {
            "username": username,
            "password_hash": password_hash,
            "roles": list(roles),
            "disabled": False,
            "created_at": now,
        }
        with _unique(f"user {username!r}"), self.engine.begin() as conn:
            result = conn.execute(sa.insert(t.users).values(values).returning(t.users.c.id))
            user_id = int(result.scalar_one())

        return UserRecord(user_id, username, password_hash, tuple(roles), False, now)

    def get_user(self, user_id: int) -> UserRecord | None:
        """The user with this id, or None."""
        with self.engine.connect() as conn:
            return _user_by_id(conn, user_id)

    def get_user_by_name(self, username: str) -> UserRecord | None:
        """The user with this name, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(_USER_BY_NAME, {"p_name": username}).first()

        return None if row is None else _user(row)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a user's password hash."""
        stmt = sa.update(t.users).where(t.users.c.id == user_id)
        with self.engine.begin() as conn:
            conn.execute(stmt.values(password_hash=password_hash))

    def set_user_disabled(self, username: str, disabled: bool) -> bool:
        """Disable or enable a user; False if there is no such user."""
        stmt = sa.update(t.users).where(t.users.c.username == username)
        with self.engine.begin() as conn:
            return conn.execute(stmt.values(disabled=disabled)).rowcount == 1

    # -- clients -------------------------------------------------------------

    def add_client(self, client: ClientRecord) -> None:
        """Store a new client; raise ``AlreadyExistsError`` if the id is taken."""
        values = {
            "client_id": client.client_id,
            "secret_digest": client.secret_digest,
            "grant_types": list(client.grant_types),
            "audiences": list(client.audiences),
            "scopes": list(client.scopes),
            "roles": list(client.roles),
            "disabled": client.disabled,
            "created_at": client.created_at,
        }
        with _unique(f"client {client.client_id!r}"), self.engine.begin() as conn:
            conn.execute(sa.insert(t.clients).values(values))

    def get_client(self, client_id: str) -> ClientRecord | None:
        """The client with this id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(_CLIENT_BY_ID, {"p_id": client_id}).mappings().first()

        return None if row is None else _client(row)

    # -- refresh tokens ------------------------------------------------------

    def add_refresh_token(self, token: RefreshTokenRecord) -> None:
        """Store a freshly issued refresh token."""
        with self.engine.begin() as conn:
            conn.execute(_INSERT_REFRESH, _refresh_values(token))

    def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        """The token with this hash, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(_REFRESH_BY_HASH, {"p_hash": token_hash}).first()

        return None if row is None else _refresh(row)

    def rotate_refresh_token(
        self, token_hash: str, successor: RefreshTokenRecord, now: float
    ) -> bool:
        """Mark a token used and store its successor; False if it was not usable."""
        params = {"p_hash": token_hash, "p_now": now, "p_successor": successor.token_hash}
        with self.engine.begin() as conn:
            if conn.execute(_CONSUME_REFRESH, params).rowcount != 1:
                return False
            conn.execute(_INSERT_REFRESH, _refresh_values(successor))

        return True

    def redeem_refresh_token(
        self,
        token_hash: str,
        successor_hash: str,
        now: float,
        expires_at: float,
        check: Callable[[RefreshTokenRecord, UserRecord | None], _T],
    ) -> _T | None:
        """Consume a usable token, check it and store its successor, in one transaction.

        The token is marked used (conditional UPDATE ... RETURNING, the same
        lock as :meth:`rotate_refresh_token`); ``check`` then sees it (with
        ``used_at`` set) and its user, read in the same transaction.  When
        ``check`` raises, nothing is written and the error propagates;
        otherwise the successor (same family, user, client, audience and
        scope, issued at ``now``) is stored, committed, and what ``check``
        returned is returned.  None, with nothing written, when the token is
        unknown, already used or revoked.
        """
        params = {"p_hash": token_hash, "p_now": now, "p_successor": successor_hash}
        with self.engine.begin() as conn:
            row = conn.execute(_CONSUME_REFRESH_RETURNING, params).first()
            if row is None:
                return None
            record = _refresh(row)
            result = check(record, _user_by_id(conn, record.user_id))
            successor = _successor(record, successor_hash, now, expires_at)
            conn.execute(_INSERT_REFRESH, _refresh_values(successor))

        return result

    def revoke_family(self, family_id: str) -> int:
        """Revoke every token of a family; return how many were changed."""
        rt = t.refresh_tokens
        stmt = sa.update(rt).where(rt.c.family_id == family_id, rt.c.revoked.is_(False))
        with self.engine.begin() as conn:
            return int(conn.execute(stmt.values(revoked=True)).rowcount)

    def purge_refresh_tokens(self, now: float) -> int:
        """Delete expired refresh tokens; return how many."""
        stmt = sa.delete(t.refresh_tokens).where(t.refresh_tokens.c.expires_at < now)
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    # -- signing keys --------------------------------------------------------

    def add_signing_key(self, key: SigningKeyRecord) -> None:
        """Store a new key."""
        self.update_signing_keys((), (key,))

    def list_signing_keys(self, states: Iterable[KeyState] | None = None) -> list[SigningKeyRecord]:
        """Keys in the given states (all when None), oldest first."""
        sk = t.signing_keys
        stmt = sa.select(sk).order_by(sk.c.created_at, sk.c.kid)
        if states is not None:
            stmt = stmt.where(sk.c.state.in_([str(s) for s in states]))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()

        return [_signing_key(row) for row in rows]

    def update_signing_keys(
        self, changed: Sequence[SigningKeyRecord], added: Sequence[SigningKeyRecord]
    ) -> None:
        """Overwrite the state and times of ``changed`` and store ``added``, atomically."""
        sk = t.signing_keys
        with _unique("signing key"), self.engine.begin() as conn:
            for key in changed:
                values = {
                    "state": str(key.state),
                    "activated_at": key.activated_at,
                    "retire_after": key.retire_after,
                }
                conn.execute(sa.update(sk).where(sk.c.kid == key.kid).values(values))
            for key in added:
                conn.execute(sa.insert(sk).values(_key_values(key)))

    def get_signing_key(self, kid: str) -> SigningKeyRecord | None:
        """The key with this ``kid`` in any state, or None."""
        sk = t.signing_keys
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sk).where(sk.c.kid == kid)).mappings().first()

        return None if row is None else _signing_key(row)

    def transition_signing_keys(
        self,
        changes: Sequence[tuple[KeyState, SigningKeyRecord]],
        added: Sequence[SigningKeyRecord] = (),
        *,
        unless: KeyState | None = None,
    ) -> bool:
        """Compare-and-set of key states, in one transaction that holds the key lock.

        Each ``(expected, record)`` moves the row of ``record.kid`` from
        ``expected`` to ``record.state`` (with its times); a key moved to
        ``retired`` loses its sealed private key.  Return False and write
        nothing when a row is not in its expected state, or when ``unless``
        is given and a key in that state exists: of several processes trying
        the same transition, exactly one wins.
        """
        sk = t.signing_keys
        with _unique("signing key"), self.engine.connect() as conn:
            _lock_signing_keys(conn)
            if unless is not None and _any_key_in(conn, unless):
                conn.rollback()
                return False
            for expected, key in changes:
                stmt = sa.update(sk).where(sk.c.kid == key.kid, sk.c.state == str(expected))
                if conn.execute(stmt.values(_state_values(key))).rowcount != 1:
                    conn.rollback()
                    return False
            for key in added:
                conn.execute(sa.insert(sk).values(_key_values(key)))
            conn.commit()

        return True

    # -- revocations and the feed -------------------------------------------

    def revoke_jti(self, jti: str, exp: float, now: float, kind: str = "revoke") -> int | None:
        """Record a revocation and append a feed event; return the event id.

        Return None when the jti was already revoked (nothing is appended).
        """
        exists = sa.select(t.revocations.c.jti).where(t.revocations.c.jti == jti)
        event = {"kind": kind, "jti": jti, "exp": exp, "created_at": now}
        try:
            with self._event_lock, self.engine.begin() as conn:
                if conn.execute(exists).first() is not None:
                    return None
                conn.execute(sa.insert(t.revocations).values(jti=jti, expires_at=exp))
                return _append_event(conn, event)
        except sa.exc.IntegrityError:
            return None  # another process revoked it between our check and insert

    def revoke_session(self, sid: str, exp: float, now: float) -> int | None:
        """Revoke a refresh-token family and every access token carrying its ``sid``.

        In one transaction: the family's refresh tokens are marked revoked,
        ``sid`` is recorded until ``exp`` and a ``revoke_session`` event is
        appended; return its id.  Return None (nothing appended) when ``sid``
        is already revoked until ``exp`` or later.
        """
        rs, rt = t.revoked_sessions, t.refresh_tokens
        known = sa.select(rs.c.expires_at).where(rs.c.sid == sid)
        family = sa.update(rt).where(rt.c.family_id == sid, rt.c.revoked.is_(False))
        event = {"kind": "revoke_session", "sid": sid, "exp": exp, "created_at": now}
        try:
            with self._event_lock, self.engine.begin() as conn:
                conn.execute(family.values(revoked=True))
                until = conn.execute(known).scalar()
                if until is not None and float(until) >= exp:
                    return None
                if until is None:
                    conn.execute(sa.insert(rs).values(sid=sid, expires_at=exp))
                else:
                    conn.execute(sa.update(rs).where(rs.c.sid == sid).values(expires_at=exp))
                return _append_event(conn, event)
        except sa.exc.IntegrityError:
            return None  # another process revoked it between our check and insert

    def is_revoked(self, jti: str) -> bool:
        """True when the jti is revoked."""
        stmt = sa.select(t.revocations.c.jti).where(t.revocations.c.jti == jti)
        with self.engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def is_session_revoked(self, sid: str) -> bool:
        """True when the session (refresh-token family) ``sid`` is revoked."""
        stmt = sa.select(t.revoked_sessions.c.sid).where(t.revoked_sessions.c.sid == sid)
        with self.engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def purge_expired(self, now: float) -> int:
        """Drop revocations, revoked sessions and events that expired; return the count."""
        rs = t.revoked_sessions
        with self._event_lock, self.engine.begin() as conn:
            gone = conn.execute(sa.delete(t.revocations).where(t.revocations.c.expires_at < now))
            sessions = conn.execute(sa.delete(rs).where(rs.c.expires_at < now))
            old = conn.execute(sa.delete(t.events).where(t.events.c.exp < now))
            return int(gone.rowcount) + int(sessions.rowcount) + int(old.rowcount)

    def events_after(self, cursor: int, limit: int = 1000) -> list[RevocationEvent]:
        """Events with an id greater than ``cursor``, in id order."""
        ev = t.events
        stmt = sa.select(ev).where(ev.c.id > cursor).order_by(ev.c.id).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()

        return [_event(row) for row in rows]

    def last_event_id(self) -> int:
        """The greatest event id, 0 when there is none."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(t.events.c.id))).scalar()

        return int(value or 0)


def _append_event(conn: sa.Connection, event: dict[str, Any]) -> int:
    result = conn.execute(sa.insert(t.events).values(event).returning(t.events.c.id))
    return int(result.scalar_one())


@contextlib.contextmanager
def _unique(what: str) -> Iterator[None]:
    """Turn a unique-key violation into :class:`AlreadyExistsError`."""
    try:
        yield
    except sa.exc.IntegrityError:
        raise AlreadyExistsError(f"{what} already exists") from None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value or ()))


def _user_by_id(conn: sa.Connection, user_id: int) -> UserRecord | None:
    row = conn.execute(_USER_BY_ID, {"p_id": user_id}).first()

    return None if row is None else _user(row)


def _user(row: Sequence[Any]) -> UserRecord:
    # Columns in table order (users): a tuple is cheaper than a mapping.
    user_id, username, password_hash, roles, disabled, created_at = row
    return UserRecord(
        id=int(user_id),
        username=username,
        password_hash=password_hash,
        roles=_strings(roles),
        disabled=bool(disabled),
        created_at=float(created_at),
    )


def _client(row: sa.RowMapping) -> ClientRecord:
    digest = row["secret_digest"]
    return ClientRecord(
        client_id=row["client_id"],
        secret_digest=None if digest is None else bytes(digest),
        grant_types=_strings(row["grant_types"]),
        audiences=_strings(row["audiences"]),
        scopes=_strings(row["scopes"]),
        roles=_strings(row["roles"]),
        created_at=float(row["created_at"]),
        disabled=bool(row["disabled"]),
    )


def _refresh_values(token: RefreshTokenRecord) -> dict[str, Any]:
    return {
        "token_hash": token.token_hash,
        "family_id": token.family_id,
        "user_id": token.user_id,
        "client_id": token.client_id,
        "audience": list(token.audience),
        "scope": token.scope,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "used_at": token.used_at,
        "replaced_by": token.replaced_by,
        "revoked": token.revoked,
    }


def _refresh(row: Sequence[Any]) -> RefreshTokenRecord:
    # Columns in table order (refresh_tokens): a tuple is cheaper than a mapping.
    digest, family, user_id, client_id, audience, scope, issued, expires, used, by, revoked = row
    return RefreshTokenRecord(
        token_hash=digest,
        family_id=family,
        user_id=int(user_id),
        client_id=client_id,
        audience=_strings(audience),
        scope=scope,
        issued_at=float(issued),
        expires_at=float(expires),
        used_at=None if used is None else float(used),
        replaced_by=by,
        revoked=bool(revoked),
    )


def _successor(
    record: RefreshTokenRecord, token_hash: str, now: float, expires_at: float
) -> RefreshTokenRecord:
    """The next token of ``record``'s family: same user, client, audience and scope."""
    return RefreshTokenRecord(
        token_hash=token_hash,
        family_id=record.family_id,
        user_id=record.user_id,
        client_id=record.client_id,
        audience=record.audience,
        scope=record.scope,
        issued_at=now,
        expires_at=expires_at,
    )


def _key_values(key: SigningKeyRecord) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": str(key.state),
        "sealed_private_key": key.sealed_private_key,
        "public_jwk": dict(key.public_jwk),
        "created_at": key.created_at,
        "activated_at": key.activated_at,
        "retire_after": key.retire_after,
    }


# Any constant works; it only has to be the same for every jwtmesh process.
_PG_KEYS_LOCK = 0x6A776B657973


def _lock_signing_keys(conn: sa.Connection) -> None:
    """Serialize key transitions across processes until the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_KEYS_LOCK})
    else:
        # SQLite has one writer: a write that changes nothing takes the lock now,
        # so what this transaction reads next cannot change before it commits.
        sk = t.signing_keys
        conn.execute(sa.update(sk).where(sa.false()).values(state=sk.c.state))


def _any_key_in(conn: sa.Connection, state: KeyState) -> bool:
    sk = t.signing_keys
    stmt = sa.select(sk.c.kid).where(sk.c.state == str(state)).limit(1)
    return conn.execute(stmt).first() is not None


def _state_values(key: SigningKeyRecord) -> dict[str, Any]:
    values: dict[str, Any] = {
        "state": str(key.state),
        "activated_at": key.activated_at,
        "retire_after": key.retire_after,
    }
    if key.state is KeyState.RETIRED:
        values["sealed_private_key"] = b""  # a retired key can never sign again
    return values


def _signing_key(row: sa.RowMapping) -> SigningKeyRecord:
    return SigningKeyRecord(
        kid=row["kid"],
        alg=row["alg"],
        state=KeyState(row["state"]),
        sealed_private_key=bytes(row["sealed_private_key"]),
        public_jwk=dict(row["public_jwk"]),
        created_at=float(row["created_at"]),
        activated_at=None if row["activated_at"] is None else float(row["activated_at"]),
        retire_after=None if row["retire_after"] is None else float(row["retire_after"]),
    )


def _event(row: sa.RowMapping) -> RevocationEvent:
    return RevocationEvent(
        id=int(row["id"]),
        kind=row["kind"],
        jti=row["jti"],
        exp=float(row["exp"]),
        created_at=float(row["created_at"]),
        sid=row["sid"],
    )
