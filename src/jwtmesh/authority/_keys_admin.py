"""Functions behind ``jwtmesh keys list | rotate | import | retire``.

Each opens the database of ``settings``, changes what it must in one
compare-and-set transaction and closes it again; running authorities see the
change on their next key-ring tick.  Nothing here prints or logs key material,
and no error message carries any.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import orjson

from jwtmesh.authority._keyring import KeyRing, KeyRingError, KeyTiming
from jwtmesh.authority._settings import _SIGNING_ALGS, AuthoritySettings
from jwtmesh.authority._setup import open_store
from jwtmesh.jose import JoseError, Key, thumbprint
from jwtmesh.store import AlreadyExistsError, KeyState, SigningKeyRecord

__all__ = ["import_key", "list_keys", "retire_key", "rotate_keys"]

logger = logging.getLogger(__name__)

KeyFormat = Literal["pem", "jwk", "auto"]
_MAX_IMPORT_BYTES = 64 * 1024
_KID = re.compile(r"[A-Za-z0-9._~:-]{1,100}")


def list_keys(settings: AuthoritySettings) -> list[dict[str, Any]]:
    """Every stored key, oldest first: kid, alg, state and times (POSIX seconds), no secrets.

    ``activates`` is when a scheduled ``next`` key will be promoted (else None).
    """
    store = open_store(settings)
    try:
        records = store.list_signing_keys()
    finally:
        store.close()

    return [_describe(record) for record in records]


def rotate_keys(settings: AuthoritySettings, now: bool = False) -> dict[str, Any]:
    """Rotate by hand; see :meth:`KeyRing.request_rotation` (``now`` is ``--now``).

    Return ``{"kid", "activated", "at", "published_for", "note"}``.
    """
    with _ring(settings, needs_kek=True) as ring:
        return ring.request_rotation(now).to_dict()


def import_key(
    settings: AuthoritySettings,
    data: bytes,
    fmt: KeyFormat = "auto",
    alg: str | None = None,
    activate: bool = False,
    kid: str | None = None,
) -> str:
    """Import an existing private key (PEM or JWK) and return its kid.

    The key enters as ``next`` (published, promoted by a later rotation), or
    as ``active`` at once with ``activate``.  A JWK keeps its ``kid`` (so that
    tokens of the previous issuer keep verifying); ``kid`` overrides it.
    Refused with :class:`KeyRingError`: public keys, HMAC keys, RSA under
    2048 bits, algorithms the authority does not sign with, a kid in use.
    """
    key = parse_private_key(data, fmt, alg)
    if kid is not None:
        key = _with_kid(key, kid)
    if not _KID.fullmatch(key.kid):
        raise KeyRingError("a kid is 1 to 100 of: letters, digits and . _ ~ : -")
    with _ring(settings, needs_kek=True) as ring:
        _refuse_known_material(ring, key)
        try:
            return ring.add_key(key, activate)
        except AlreadyExistsError:
            raise KeyRingError(f"a signing key with kid {key.kid} exists") from None


def _refuse_known_material(ring: KeyRing, key: Key) -> None:
    """One key pair under two kids would survive the retirement of either."""
    fingerprint = thumbprint(key.public_jwk())
    for record in ring.store.list_signing_keys():
        if thumbprint(record.public_jwk) == fingerprint:
            raise KeyRingError(f"a signing key with kid {record.kid} exists with this key material")


def retire_key(settings: AuthoritySettings, kid: str) -> None:
    """Retire a ``next`` or ``retiring`` key now; refuse the only active key."""
    with _ring(settings, needs_kek=False) as ring:
        ring.retire(kid)


def parse_private_key(data: bytes, fmt: KeyFormat = "auto", alg: str | None = None) -> Key:
    """A private signing key from PEM or JWK bytes; :class:`KeyRingError` if unusable."""
    if len(data) > _MAX_IMPORT_BYTES:
        raise KeyRingError("the key file is too large to be one key")
    kind = _format_of(data) if fmt == "auto" else fmt
    if alg is not None and alg not in _SIGNING_ALGS:
        raise KeyRingError(f"alg must be one of {', '.join(_SIGNING_ALGS)}")
    key = _load_pem(data, alg) if kind == "pem" else _load_jwk(data, alg)
    if not key.is_private:
        raise KeyRingError("this is a public key: importing needs the private key")
    if len(key.kid) > 100:
        raise KeyRingError("the kid is longer than 100 characters: give another kid")
    if key.alg not in _SIGNING_ALGS:
        raise KeyRingError(
            f"the key is for {key.alg}; the authority signs with {', '.join(_SIGNING_ALGS)}"
        )
    return key


@contextmanager
def _ring(settings: AuthoritySettings, needs_kek: bool) -> Iterator[KeyRing]:
    kek = settings.require_kek() if needs_kek else b""
    store = open_store(settings)
    try:
        timing = KeyTiming.from_settings(settings)
        ring = KeyRing(store, kek, settings.signing_alg, timing=timing)
        if needs_kek:
            ring.check_kek()  # never seal a new key under a KEK the others do not share
        yield ring
    finally:
        store.close()


def _format_of(data: bytes) -> str:
    head = data.lstrip()
    if head.startswith(b"{"):
        return "jwk"
    if head.startswith(b"-----BEGIN"):
        return "pem"
    raise KeyRingError("cannot tell the key format: give a PEM or a JSON Web Key")


def _load_pem(data: bytes, alg: str | None) -> Key:
    if b"ENCRYPTED" in data:
        raise KeyRingError("the PEM key is encrypted: decrypt it first (openssl pkcs8)")
    if b"PRIVATE KEY" not in data:
        raise KeyRingError("this is a public key or certificate: importing needs the private key")
    try:
        return Key.from_pem(data, alg)
    except JoseError as exc:
        raise KeyRingError(f"not a usable PEM private key: {exc}") from None


def _load_jwk(data: bytes, alg: str | None) -> Key:
    try:
        jwk = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise KeyRingError("not a JSON Web Key: the JSON does not parse") from None
    if not isinstance(jwk, dict):
        raise KeyRingError("a JSON Web Key must be a JSON object")
    if "keys" in jwk:
        raise KeyRingError("this is a JWK set: import one key at a time")
    if jwk.get("kty") == "oct":
        raise KeyRingError("an HMAC (oct) key cannot be published in a JWKS: use an asymmetric key")
    if not any(name in jwk for name in ("d", "p", "q")):
        raise KeyRingError("this is a public key: importing needs the private key")
    try:
        return Key.from_jwk(jwk, alg)
    except JoseError as exc:
        hint = " (give the alg)" if "alg" in str(exc) else ""
        raise KeyRingError(f"not a usable JSON Web Key: {exc}{hint}") from None


def _with_kid(key: Key, kid: str) -> Key:
    if not kid or len(kid) > 100 or not kid.isprintable():
        raise KeyRingError("kid must be 1 to 100 printable characters")
    try:
        return Key.from_jwk({**key.private_jwk(), "kid": kid})
    except JoseError as exc:
        raise KeyRingError(f"cannot use this kid: {exc}") from None


def _describe(record: SigningKeyRecord) -> dict[str, Any]:
    waiting = record.state is KeyState.NEXT
    return {
        "kid": record.kid,
        "alg": record.alg,
        "state": str(record.state),
        "created": record.created_at,
        "activated": None if waiting else record.activated_at,
        "activates": record.activated_at if waiting else None,
        "retire_after": record.retire_after,
    }
