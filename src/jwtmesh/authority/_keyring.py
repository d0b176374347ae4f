"""The signing keys: loaded and unsealed at start, generated on first start, rotated."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from jwtmesh.authority._errors import StartupError
from jwtmesh.jose import JoseError, Key, KeySet, seal_private_key, unseal_private_key
from jwtmesh.store import KeyState, KeyStore, SigningKeyRecord

__all__ = ["KeyRing"]

logger = logging.getLogger(__name__)

_PUBLISHED = (KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRING)


class KeyRing:
    """Signing keys of the authority, kept in a :class:`KeyStore`, sealed with the KEK.

    ``next`` keys are published before they sign (guards learn them ahead),
    the one ``active`` key signs, ``retiring`` keys still verify tokens they
    signed until ``retire_after``, ``retired`` keys are no longer published.
    """

    def __init__(
        self,
        store: KeyStore,
        kek: bytes,
        alg: str = "ES256",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._kek = kek
        self._alg = alg
        self._clock = clock
        self._lock = threading.Lock()
        self._records: list[SigningKeyRecord] = []
        self._active: Key | None = None

    def load(self) -> None:
        """Read the keys; create an active one on first start.

        Raise :class:`StartupError` when a stored key cannot be unsealed (a
        wrong KEK): nothing is written in that case.
        """
        with self._lock:
            records = self._store.list_signing_keys(_PUBLISHED)
            active = [r for r in records if r.state is KeyState.ACTIVE]
            for record in records:
                self._unseal(record)  # every live key must open, not just the active one
            if not active:
                record = self._new_record(KeyState.ACTIVE)
                self._store.add_signing_key(record)
                logger.info("generated the first %s signing key %s", self._alg, record.kid)
                records, active = [*records, record], [record]
            self._install(records, active[-1])

    def _unseal(self, record: SigningKeyRecord) -> Key:
        try:
            return unseal_private_key(record.sealed_private_key, self._kek, record.kid)
        except JoseError:
            raise StartupError(
                f"the key-encryption key (JWTMESH_KEK) cannot unseal signing key {record.kid}: "
                "it is not the key this database was set up with; nothing was changed"
            ) from None

    def _new_record(self, state: KeyState) -> SigningKeyRecord:
        key = Key.generate(self._alg)
        now = self._clock()
        return SigningKeyRecord(
            kid=key.kid,
            alg=key.alg,
            state=state,
            sealed_private_key=seal_private_key(key, self._kek),
            public_jwk=key.public_jwk(),
            created_at=now,
            activated_at=now if state is KeyState.ACTIVE else None,
        )

    def _install(self, records: list[SigningKeyRecord], active: SigningKeyRecord) -> None:
        self._records = records
        self._active = self._unseal(active)
        self._keyset = KeySet([Key.from_jwk(r.public_jwk) for r in records])

    @property
    def signing_key(self) -> Key:
        """The active private key."""
        if self._active is None:
            raise RuntimeError("KeyRing.load() was not called")
        return self._active

    @property
    def keyset(self) -> KeySet:
        """Public keys that verify tokens of this authority (next, active, retiring)."""
        return self._keyset

    def jwks(self) -> dict[str, Any]:
        """The JWKS document (RFC 7517 section 5) of the published public keys."""
        return {"keys": [dict(r.public_jwk) for r in self._records]}

    def states(self) -> dict[str, KeyState]:
        """``kid -> state`` of the published keys."""
        return {r.kid: r.state for r in self._records}

    def rotate(self, retire_after: float) -> str:
        """Promote ``next`` (made now if there is none) to active; return the new active kid.

        The old active key becomes ``retiring`` until ``now + retire_after``
        seconds, keys past their ``retire_after`` become ``retired``, and a
        new ``next`` key is generated so guards can cache it ahead of time.
        """
        with self._lock:
            now = self._clock()
            records = self._store.list_signing_keys(_PUBLISHED)
            changed = [self._rotated(r, now, retire_after) for r in records]
            added = [self._new_record(KeyState.NEXT)]
            if not any(r.state is KeyState.NEXT for r in records):
                added.insert(0, self._new_record(KeyState.ACTIVE))
            self._store.update_signing_keys(changed, added)
            fresh = self._store.list_signing_keys(_PUBLISHED)
            active = [r for r in fresh if r.state is KeyState.ACTIVE][-1]
            self._install(fresh, active)
            logger.info("rotated signing keys; active key is now %s", active.kid)

            return active.kid

    @staticmethod
    def _rotated(record: SigningKeyRecord, now: float, retire_after: float) -> SigningKeyRecord:
        if record.state is KeyState.NEXT:
            return dataclasses.replace(record, state=KeyState.ACTIVE, activated_at=now)
        if record.state is KeyState.ACTIVE:
            return dataclasses.replace(
                record, state=KeyState.RETIRING, retire_after=now + retire_after
            )
        if record.retire_after is not None and record.retire_after <= now:
            return dataclasses.replace(record, state=KeyState.RETIRED)
        return record
