"""What the authority does, apart from HTTP: grants, rotation, revocation, introspection."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from jwtmesh.authority._clients import ClientCredentials, ClientRegistry
from jwtmesh.authority._errors import OAuthError
from jwtmesh.authority._keyring import KeyRing
from jwtmesh.authority._secrets import Passwords, hash_refresh_token, new_refresh_token
from jwtmesh.authority._settings import AuthoritySettings
from jwtmesh.authority._tokens import (
    ADMIN_SCOPE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_LOGIN,
    GRANT_REFRESH,
    GRANT_TOKEN_EXCHANGE,
    TOKEN_TYPE_ACCESS,
    AccessTokenIssuer,
    TokenGrant,
)
from jwtmesh.jose import InvalidTokenError, Validator
from jwtmesh.store import ClientRecord, RefreshTokenRecord, RevocationEvent, Store, UserRecord

__all__ = ["Authority", "TokenResponse"]

logger = logging.getLogger(__name__)

_BAD_LOGIN = "invalid username or password"
_BAD_REFRESH = "refresh token is invalid, expired or revoked"


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """A successful token answer (RFC 6749 section 5.1)."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    issued_token_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON body; absent optional members are left out."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.issued_token_type is not None:
            body["issued_token_type"] = self.issued_token_type
        return body


class Authority:
    """The token authority's logic; every method is synchronous and thread safe.

    ``notify`` is called after a revocation event is committed (the HTTP layer
    uses it to wake long-polling feed readers).
    """

    def __init__(
        self,
        settings: AuthoritySettings,
        store: Store,
        keyring: KeyRing,
        issuer: AccessTokenIssuer,
        clients: ClientRegistry,
        passwords: Passwords,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring
        self.issuer = issuer
        self.clients = clients
        self.passwords = passwords
        self.clock = clock
        self.notify: Callable[[], None] = lambda: None

    # -- login and refresh ---------------------------------------------------

    def login(
        self,
        username: str,
        password: str,
        client_id: str | None = None,
        audience: str | None = None,
        scope: str | None = None,
    ) -> TokenResponse:
        """Check a password and start a refresh-token family (``POST /login``)."""
        client = self.clients.get(client_id or self.settings.default_client_id)
        if client is None or client.disabled or GRANT_LOGIN not in client.grant_types:
            raise OAuthError("invalid_client", "unknown client or login not allowed", 401)
        aud = _audience(client, audience)
        granted = _scope(client.scopes, scope)
        user = self._check_password(username, password)
        family = secrets.token_urlsafe(16)
        now = self.clock()
        token, token_hash = new_refresh_token()
        record = RefreshTokenRecord(
            token_hash=token_hash,
            family_id=family,
            user_id=user.id,
            client_id=client.client_id,
            audience=aud,
            scope=granted,
            issued_at=now,
            expires_at=now + self.settings.refresh_ttl,
        )
        self.store.add_refresh_token(record)
        grant = TokenGrant(user.username, aud, client.client_id, granted, user.roles, sid=family)

        return self._user_answer(grant, token)

    def _check_password(self, username: str, password: str) -> UserRecord:
        user = self.store.get_user_by_name(username)
        # Unknown users are checked against a dummy hash: same cost, same answer.
        ok = self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            logger.info("login refused")
            raise OAuthError("invalid_grant", _BAD_LOGIN, 401)
        if self.passwords.needs_rehash(user.password_hash):
            self.store.set_password_hash(user.id, self.passwords.hash(password))
        return user

    def _user_answer(self, grant: TokenGrant, refresh_token: str) -> TokenResponse:
        access, expires_in = self.issuer.issue(grant)

        return TokenResponse(access, expires_in, grant.scope, refresh_token=refresh_token)

    def refresh(
        self, creds: ClientCredentials, refresh_token: str, scope: str | None
    ) -> TokenResponse:
        """Rotate a refresh token (single use) and issue a new access token."""
        client = self._client_for(creds, GRANT_REFRESH, allow_public=True)
        token_hash = hash_refresh_token(refresh_token)
        now = self.clock()
        token, successor_hash = new_refresh_token()
        # One transaction: consume the token, check it, store its successor.
        check = _RefreshCheck(client.client_id, scope, now)
        expires_at = now + self.settings.refresh_ttl
        grant = self.store.redeem_refresh_token(token_hash, successor_hash, now, expires_at, check)
        if grant is None:
            self._refuse_unusable(client, token_hash)

        return self._user_answer(grant, token)

    def _refuse_unusable(self, client: ClientRecord, token_hash: str) -> NoReturn:
        """The token could not be redeemed: unknown, another client's, revoked or used."""
        record = self.store.get_refresh_token(token_hash)
        if record is None or record.client_id != client.client_id or record.revoked:
            raise OAuthError("invalid_grant", _BAD_REFRESH)
        if record.used_at is None:  # cannot happen: the store found it unusable
            raise OAuthError("invalid_grant", _BAD_REFRESH)
        self._refuse_reuse(record)

    def _refuse_reuse(self, record: RefreshTokenRecord) -> NoReturn:
        """A used refresh token came back: revoke its family unless it was just rotated."""
        used_at = record.used_at
        grace = self.settings.refresh_reuse_grace
        # Within the grace window a re-use is most likely a client retry: refuse
        # it, but leave the family alone; after it, treat it as theft.
        stolen = used_at is not None and self.clock() - used_at > grace
        if stolen and self.end_session(record.family_id):
            logger.warning(
                "refresh token reuse detected; session revoked (client %s)", record.client_id
            )
        raise OAuthError("invalid_grant", "refresh token was already used")

    # -- service tokens ------------------------------------------------------

    def client_credentials(
        self, creds: ClientCredentials, audience: str | None, scope: str | None
    ) -> TokenResponse:
        """A token whose subject is the client itself (RFC 6749 section 4.4)."""
        client = self._client_for(creds, GRANT_CLIENT_CREDENTIALS, allow_public=False)
        aud = _audience(client, audience)
        granted = _scope(client.scopes, scope)
        grant = TokenGrant(client.client_id, aud, client.client_id, granted, client.roles)
        access, expires_in = self.issuer.issue(grant)

        return TokenResponse(access, expires_in, granted)

    def token_exchange(self, creds: ClientCredentials, params: Mapping[str, str]) -> TokenResponse:
        """Exchange a user's access token for one aimed at another service (RFC 8693)."""
        client = self._client_for(creds, GRANT_TOKEN_EXCHANGE, allow_public=False)
        _check_exchange_params(params)
        target = params.get("audience") or params.get("resource")
        if not target:
            raise OAuthError("invalid_request", "audience (or resource) is required")
        aud = _audience(client, target)
        subject = self._own_access_token(params["subject_token"], "subject_token")
        granted = _scope(str(subject.get("scope", "")).split(), params.get("scope"))
        act: dict[str, Any] = {"sub": client.client_id}
        if isinstance(subject.get("act"), dict):
            act["act"] = subject["act"]  # RFC 8693 section 4.1: earlier actors nest
        grant = TokenGrant(
            subject=str(subject["sub"]),
            audience=aud,
            client_id=client.client_id,
            scope=granted,
            roles=_string_list(subject.get("roles")),
            sid=subject.get("sid"),
            act=act,
            not_after=float(subject["exp"]),
        )
        access, expires_in = self.issuer.issue(grant)

        return TokenResponse(access, expires_in, granted, issued_token_type=TOKEN_TYPE_ACCESS)

    # -- revocation, introspection, logout -----------------------------------

    def revoke(self, creds: ClientCredentials, token: str, hint: str | None) -> None:
        """Revoke an access token's jti, or a refresh token's whole session (RFC 7009).

        A refresh token takes its family and every access token issued from
        it (their ``sid``) along: RFC 7009 section 2.1 asks for the tokens of
        the same grant to go too.
        """
        client = self.clients.authenticate(creds, allow_public=True)
        if _looks_like_jwt(token) and hint != "refresh_token":
            self._revoke_access(client, token)
            return
        record = self.store.get_refresh_token(hash_refresh_token(token))
        if record is None:
            if _looks_like_jwt(token):
                self._revoke_access(client, token)
            return  # RFC 7009 section 2.2: an unknown token is not an error
        _check_owner(client, record.client_id)
        self.end_session(record.family_id)

    def _revoke_access(self, client: ClientRecord, token: str) -> None:
        try:
            claims = self._validator().decode(token, now=self.clock())
        except InvalidTokenError:
            return  # invalid or expired: nothing left to revoke
        _check_owner(client, str(claims.get("client_id", "")))
        self.revoke_claims(claims)

    def revoke_claims(self, claims: Mapping[str, Any]) -> None:
        """Record a verified access token's jti as revoked until its expiry."""
        if self.store.revoke_jti(str(claims["jti"]), float(claims["exp"]), self.clock()):
            self.notify()

    def end_session(self, sid: str) -> bool:
        """Revoke a refresh-token family and every access token whose ``sid`` is ``sid``.

        The revocation lasts one access-token lifetime: no token of the
        family can be issued afterwards, so none outlives it.  Return True
        when a feed event was written.
        """
        now = self.clock()
        if self.store.revoke_session(sid, now + self.settings.access_ttl, now) is None:
            return False
        self.notify()
        return True

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """True when the token's ``jti`` or its session (``sid``) is revoked."""
        sid = claims.get("sid")
        if isinstance(sid, str) and self.store.is_session_revoked(sid):
            return True
        return self.store.is_revoked(str(claims["jti"]))

    def introspect(self, creds: ClientCredentials, token: str, hint: str | None) -> dict[str, Any]:
        """RFC 7662: what the token is, or ``{"active": false}``."""
        client = self.clients.authenticate(creds, allow_public=False)
        if _looks_like_jwt(token) and hint != "refresh_token":
            return self._introspect_access(token)
        record = self.store.get_refresh_token(hash_refresh_token(token))
        if record is None:
            return self._introspect_access(token) if _looks_like_jwt(token) else {"active": False}
        if client.client_id != record.client_id and ADMIN_SCOPE not in client.scopes:
            return {"active": False}
        return self._introspect_refresh(record)

    def _introspect_access(self, token: str) -> dict[str, Any]:
        try:
            claims = self._validator().decode(token, now=self.clock())
        except InvalidTokenError:
            return {"active": False}
        if self.is_revoked(claims):
            return {"active": False}
        return {**claims, "active": True, "token_type": "Bearer"}

    def _introspect_refresh(self, record: RefreshTokenRecord) -> dict[str, Any]:
        usable = record.used_at is None and not record.revoked and record.expires_at > self.clock()
        user = self.store.get_user(record.user_id) if usable else None
        if user is None or user.disabled:
            return {"active": False}
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": record.client_id,
            "sub": user.username,
            "aud": list(record.audience),
            "scope": record.scope,
            "iat": int(record.issued_at),
            "exp": int(record.expires_at),
            "sid": record.family_id,
        }

    def logout(self, access_token: str, refresh_token: str | None) -> None:
        """End a session: the access token, its refresh-token family and the family's tokens."""
        claims = self.verify_access_token(access_token)
        self.revoke_claims(claims)
        if isinstance(claims.get("sid"), str):
            self.end_session(claims["sid"])
        if refresh_token:
            record = self.store.get_refresh_token(hash_refresh_token(refresh_token))
            user = self.store.get_user(record.user_id) if record else None
            if record is not None and user is not None and user.username == claims["sub"]:
                self.end_session(record.family_id)

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """Claims of a valid, unrevoked access token of this authority, else 401."""
        try:
            claims = self._validator().decode(token, now=self.clock())
        except InvalidTokenError as exc:
            raise _invalid_token(exc.code) from None
        if self.is_revoked(claims):
            raise _invalid_token("revoked")
        return claims

    def _own_access_token(self, token: str, name: str) -> dict[str, Any]:
        try:
            claims = self._validator().decode(token, now=self.clock())
        except InvalidTokenError as exc:
            raise OAuthError("invalid_grant", f"{name} is not valid ({exc.code})") from None
        if self.is_revoked(claims):
            raise OAuthError("invalid_grant", f"{name} is revoked")
        return claims

    def _validator(self) -> Validator:
        # Built per call: it is cheap, and picks up a rotated key ring at once.
        return Validator(self.keyring.keyset, self.issuer.issuer, None, typ="at+jwt")

    # -- feed ---------------------------------------------------------------

    def events_after(self, cursor: int, limit: int = 1000) -> list[RevocationEvent]:
        """Revocation events after ``cursor``."""
        return self.store.events_after(cursor, limit)

    def purge(self) -> int:
        """Forget what has expired: revocations, feed events, refresh tokens."""
        now = self.clock()
        return self.store.purge_expired(now) + self.store.purge_refresh_tokens(now)

    def _client_for(self, creds: ClientCredentials, grant: str, allow_public: bool) -> ClientRecord:
        client = self.clients.authenticate(creds, allow_public=allow_public)
        if grant not in client.grant_types:
            raise OAuthError("unauthorized_client", "this client may not use this grant type")
        return client


@dataclass(frozen=True, slots=True)
class _RefreshCheck:
    """Checks a consumed refresh token inside the store's transaction.

    Raising rolls the rotation back, so a refused token stays usable.
    """

    client_id: str
    scope: str | None
    now: float

    def __call__(self, record: RefreshTokenRecord, user: UserRecord | None) -> TokenGrant:
        """The grant for the new access token, or ``invalid_grant`` / ``invalid_scope``."""
        if record.client_id != self.client_id:
            raise OAuthError("invalid_grant", _BAD_REFRESH)
        if record.expires_at <= self.now or user is None or user.disabled:
            raise OAuthError("invalid_grant", _BAD_REFRESH)
        narrowed = _scope(record.scope.split(), self.scope)

        return TokenGrant(
            user.username,
            record.audience,
            self.client_id,
            narrowed,
            user.roles,
            sid=record.family_id,
        )


def _audience(client: ClientRecord, requested: str | None) -> tuple[str, ...]:
    if not requested:
        if not client.audiences:
            raise OAuthError("invalid_target", "the client has no audience configured")
        return client.audiences
    if requested not in client.audiences:
        raise OAuthError("invalid_target", "the requested audience is not allowed for this client")
    return (requested,)


def _scope(allowed: Iterable[str], requested: str | None) -> str:
    allowed_set = list(dict.fromkeys(allowed))
    if not requested or not requested.strip():
        return " ".join(allowed_set)
    wanted = list(dict.fromkeys(requested.split()))
    if not set(wanted) <= set(allowed_set):
        raise OAuthError("invalid_scope", "the requested scope is not allowed")
    return " ".join(wanted)


def _check_exchange_params(params: Mapping[str, str]) -> None:
    if not params.get("subject_token"):
        raise OAuthError("invalid_request", "subject_token is required")
    if params.get("subject_token_type") != TOKEN_TYPE_ACCESS:
        raise OAuthError("invalid_request", f"subject_token_type must be {TOKEN_TYPE_ACCESS}")
    requested = params.get("requested_token_type")
    if requested not in (None, "", TOKEN_TYPE_ACCESS):
        raise OAuthError("invalid_request", "only access tokens can be requested")
    if params.get("actor_token"):
        raise OAuthError("invalid_request", "actor_token is not supported")


def _check_owner(client: ClientRecord, owner: str) -> None:
    if client.client_id != owner and ADMIN_SCOPE not in client.scopes:
        raise OAuthError("unauthorized_client", "the token was issued to another client")


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return []
    return value


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def _invalid_token(code: str) -> OAuthError:
    """401 in the guard's words: ``code: reason`` in the RFC 6750 challenge and the body."""
    description = f"{code}: the access token was rejected"
    header = f'Bearer realm="jwtmesh", error="invalid_token", error_description="{description}"'
    return OAuthError("invalid_token", description, 401, {"WWW-Authenticate": header})
