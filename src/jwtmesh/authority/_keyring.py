"""The signing keys and their life cycle: ``next -> active -> retiring -> retired``.

* ``next``: published in the JWKS, signs nothing yet.  After each
  promotion a fresh one stands by, so that the following rotation can
  promote a key that guards already cached.  A ``next`` row whose
  ``activated_at`` is set is *scheduled*: it is promoted at that time
  (``jwtmesh keys rotate`` without ``--now``).
* ``active``: the one key that signs.
* ``retiring``: stopped signing, still published until ``retire_after``
  (when it stopped + ``access_ttl`` + ``key_retire_leeway``), so every token
  it signed verifies until it expires.
* ``retired``: no longer published; the row keeps ``kid`` and public JWK
  for audit, its sealed private key is deleted.

Several authority processes may share one database: each reloads the key
states on every :meth:`KeyRing.tick`, and every transition is a
compare-and-set (:meth:`KeyStore.transition_signing_keys`), so exactly one
process performs it and the others only see it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jwtmesh.authority._errors import AuthorityError, StartupError
from jwtmesh.authority._settings import AuthoritySettings
from jwtmesh.jose import JoseError, Key, KeySet, seal_private_key, unseal_private_key
from jwtmesh.store import KeyState, KeyStore, SigningKeyRecord

__all__ = ["KeyRing", "KeyRingError", "KeyTiming", "Rotation", "start_key_schedule"]

logger = logging.getLogger(__name__)

_PUBLISHED = (KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRING)
# JWK members that only a private key has (RFC 7518 section 6): never published.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CAS_TRIES = 3
_STALE_JWKS_NOTE = (
    "it signs at once: a guard whose cached JWKS predates it fetches the JWKS again "
    "on the unknown kid (rate-limited), so a request may fail in between"
)


class KeyRingError(AuthorityError, ValueError):
    """A key-ring operation was refused; the message says why, never with key material."""


@dataclass(frozen=True)
class KeyTiming:
    """How long keys stay in each state, in seconds."""

    publish_ahead: float = 600.0
    retire_grace: float = 360.0
    rotation_interval: float = 0.0

    @classmethod
    def from_settings(cls, settings: AuthoritySettings) -> KeyTiming:
        """The timing the ``JWTMESH_KEY_*`` settings describe."""
        return cls(
            publish_ahead=settings.publish_ahead,
            retire_grace=settings.retire_grace,
            rotation_interval=float(settings.key_rotation_interval),
        )


@dataclass(frozen=True)
class Rotation:
    """The outcome of a rotation: which key, signing now or from ``at`` on."""

    kid: str
    activated: bool
    at: float
    published_for: float
    note: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no key material)."""
        return dataclasses.asdict(self)


class KeyRing:
    """Signing keys of the authority, kept in a :class:`KeyStore`, sealed with the KEK.

    :meth:`load` at start, then :meth:`tick` every few seconds (see
    :func:`start_key_schedule`).  :attr:`signing_key`, :attr:`keyset` and
    :meth:`jwks` always answer from memory.
    """

    def __init__(
        self,
        store: KeyStore,
        kek: bytes,
        alg: str = "ES256",
        clock: Callable[[], float] = time.time,
        timing: KeyTiming | None = None,
    ) -> None:
        self._store = store
        self._kek = kek
        self._alg = alg
        self._clock = clock
        self.timing = timing or KeyTiming()
        self._lock = threading.RLock()
        self._records: list[SigningKeyRecord] = []
        self._active: Key | None = None
        self._keyset = KeySet([])

    # ------------------------------------------------------------- start-up

    @property
    def store(self) -> KeyStore:
        """Where the ring keeps its keys."""
        return self._store

    def load(self) -> None:
        """Read and unseal the keys; create the first active one on first start.

        Raise :class:`StartupError` naming the key when a stored key cannot be
        unsealed (wrong KEK, damaged row): nothing is written in that case.
        """
        with self._lock:
            records = self._snapshot()
            self._check_all_open(records)
            if not any(r.state is KeyState.ACTIVE for r in records):
                first = self._new_record(KeyState.ACTIVE, self._clock())
                if self._store.transition_signing_keys((), (first,), unless=KeyState.ACTIVE):
                    logger.info("generated the first %s signing key %s", self._alg, first.kid)
                records = self._snapshot()
            self._install(records, at_start=True)

    def _check_all_open(self, records: Sequence[SigningKeyRecord]) -> None:
        failed = [r for r in records if not self._opens(r)]
        if not failed:
            return
        if len(failed) == len(records):
            kids = ", ".join(r.kid for r in failed)
            raise StartupError(
                f"the key-encryption key (JWTMESH_KEK or JWTMESH_KEK_FILE) cannot unseal "
                f"signing key {kids}: it is not the key this database was set up with "
                "(or the rows are damaged); nothing was changed"
            )
        raise StartupError(_damaged_message(failed[0]))

    def _opens(self, record: SigningKeyRecord) -> bool:
        try:
            self._unseal(record)
        except JoseError:
            return False
        return True

    def _unseal(self, record: SigningKeyRecord) -> Key:
        return unseal_private_key(record.sealed_private_key, self._kek, record.kid)

    def check_kek(self) -> None:
        """Refuse (:class:`KeyRingError`) a KEK that opens none of the live keys."""
        records = self._snapshot()
        if records and not any(self._opens(r) for r in records):
            raise KeyRingError(
                "the key-encryption key cannot unseal any stored signing key: it is not "
                "the key this database was set up with; nothing was changed"
            )

    # ------------------------------------------------------------- reading
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
        return {"keys": [public_members(r.public_jwk) for r in self._records]}

    def states(self) -> dict[str, KeyState]:
        """``kid -> state`` of the published keys."""
        return {r.kid: r.state for r in self._records}

    # ------------------------------------------------------------- schedule
    def tick(self) -> list[str]:
        """Reload the states and make the transitions that are due; say which ones.

        Retire keys past ``retire_after``; promote a due ``next`` key (the
        old active one starts retiring) and publish a fresh ``next`` key to
        stand by; on a schedule, publish the ``next`` key ``publish_ahead``
        before it is due.
        """
        with self._lock:
            now = self._clock()
            done = self._retire_expired(self._snapshot(), now)
            records = self._snapshot()
            candidate = self._due_next(records, now)
            promoted = candidate is not None and self._promote(candidate, records, now)
            if candidate is not None and promoted:
                done.append(f"promoted {candidate.kid} to active")
            if promoted or self._next_needed(records, now):
                done += self._ensure_next(now)
            self._install(self._snapshot())

            return done

    def _due_next(self, records: Sequence[SigningKeyRecord], now: float) -> SigningKeyRecord | None:
        ripe = [r for r in _newest_first(records, KeyState.NEXT) if self._ripe(r, now)]
        planned = [r for r in ripe if r.activated_at is not None and r.activated_at <= now]
        if planned:
            return planned[0]
        active = _active_record(records)
        if active is None:
            return ripe[0] if ripe else None
        interval = self.timing.rotation_interval
        since = active.activated_at if active.activated_at is not None else active.created_at
        if interval > 0 and ripe and since + interval <= now:
            return ripe[0]
        return None

    def _next_needed(self, records: Sequence[SigningKeyRecord], now: float) -> bool:
        """On a schedule, the next key must be out ``publish_ahead`` before it is due."""
        active = _active_record(records)
        if self.timing.rotation_interval <= 0 or active is None:
            return False
        since = active.activated_at if active.activated_at is not None else active.created_at
        return since + self.timing.rotation_interval - self.timing.publish_ahead <= now

    def _ripe(self, record: SigningKeyRecord, now: float) -> bool:
        return record.created_at + self.timing.publish_ahead <= now

    def _retire_expired(self, records: Sequence[SigningKeyRecord], now: float) -> list[str]:
        done = []
        for record in records:
            expired = record.retire_after is not None and record.retire_after <= now
            if record.state is KeyState.RETIRING and expired:
                retired = dataclasses.replace(record, state=KeyState.RETIRED)
                if self._store.transition_signing_keys(((KeyState.RETIRING, retired),)):
                    done.append(f"retired {record.kid}")
        return done

    def _ensure_next(self, now: float) -> list[str]:
        if self._store.list_signing_keys((KeyState.NEXT,)):
            return []
        record = self._new_record(KeyState.NEXT, now)
        if self._store.transition_signing_keys((), (record,), unless=KeyState.NEXT):
            return [f"published {record.kid} as next"]
        return []

    def _promote(
        self, candidate: SigningKeyRecord, records: Sequence[SigningKeyRecord], now: float
    ) -> bool:
        """Compare-and-set: ``candidate`` next -> active, the active key -> retiring."""
        if not self._opens(candidate):
            logger.error("%s; not promoting it", _damaged_message(candidate))
            return False
        promoted = dataclasses.replace(
            candidate, state=KeyState.ACTIVE, activated_at=now, retire_after=None
        )
        changes = [(KeyState.NEXT, promoted), *self._retiring(records, now)]
        return self._store.transition_signing_keys(changes)

    def _retiring(
        self, records: Sequence[SigningKeyRecord], now: float
    ) -> list[tuple[KeyState, SigningKeyRecord]]:
        until = now + self.timing.retire_grace
        return [
            (KeyState.ACTIVE, dataclasses.replace(r, state=KeyState.RETIRING, retire_after=until))
            for r in records
            if r.state is KeyState.ACTIVE
        ]

    # ------------------------------------------------------------- by hand
    def rotate(self, retire_after: float | None = None) -> str:
        """Rotate at once (``--now``) and return the new active kid.

        ``retire_after`` overrides how long the old active key stays published.
        """
        with self._lock:
            timing = self.timing
            if retire_after is not None:
                self.timing = dataclasses.replace(timing, retire_grace=retire_after)
            try:
                return self.request_rotation(now=True).kid
            finally:
                self.timing = timing

    def request_rotation(self, now: bool = False) -> Rotation:
        """Rotate by hand.

        A ``next`` key published for at least ``publish_ahead`` is promoted
        at once.  Otherwise, without ``now``, the newest ``next`` key (made
        now if there is none) is scheduled for when it will have been
        published long enough; with ``now`` it is promoted at once anyway.
        """
        with self._lock:
            for _ in range(_CAS_TRIES):
                result = self._try_rotation(now)
                if result is not None:
                    self._ensure_next(self._clock())
                    self._reinstall()
                    return result
        raise KeyRingError("another process kept changing the keys; try again")

    def _try_rotation(self, now: bool) -> Rotation | None:
        at = self._clock()
        self._retire_expired(self._snapshot(), at)
        records = self._snapshot()
        waiting = _newest_first(records, KeyState.NEXT)
        ripe = [r for r in waiting if self._ripe(r, at)]
        if ripe:
            return self._promoted(ripe[0], records, at, "it was published long enough")
        if now:
            candidate = waiting[0] if waiting else self._new_record(KeyState.NEXT, at)
            if not waiting:
                self._store.add_signing_key(candidate)
            return self._promoted(candidate, records, at, _STALE_JWKS_NOTE)
        return self._schedule(waiting[0] if waiting else None, at)

    def _promoted(
        self, candidate: SigningKeyRecord, records: Sequence[SigningKeyRecord], at: float, note: str
    ) -> Rotation | None:
        if not self._promote(candidate, records, at):
            if not self._opens(candidate):
                raise KeyRingError(_damaged_message(candidate))
            return None
        logger.info("rotated signing keys by hand; active key is now %s", candidate.kid)
        return Rotation(candidate.kid, True, at, at - candidate.created_at, note)

    def _schedule(self, waiting: SigningKeyRecord | None, at: float) -> Rotation | None:
        if waiting is None:
            waiting = self._new_record(KeyState.NEXT, at)
            self._store.add_signing_key(waiting)
        when = waiting.created_at + self.timing.publish_ahead
        planned = dataclasses.replace(waiting, activated_at=when)
        if not self._store.transition_signing_keys(((KeyState.NEXT, planned),)):
            return None
        logger.info("scheduled signing key %s to activate in %.0f s", waiting.kid, when - at)
        note = (
            "published now as next; a running authority promotes it once guards had "
            "time to cache it (use --now to promote it at once)"
        )
        return Rotation(waiting.kid, False, when, self.timing.publish_ahead, note)

    def add_key(self, key: Key, activate: bool = False) -> str:
        """Store an existing private key as ``next``, or as ``active`` at once; return its kid."""
        if not key.is_private or key.kty == "oct":
            raise KeyRingError("only an asymmetric private key can be imported")
        with self._lock:
            known = self._store.get_signing_key(key.kid)
            if known is not None:
                raise KeyRingError(f"a signing key with kid {key.kid} exists ({known.state})")
            at = self._clock()
            state = KeyState.ACTIVE if activate else KeyState.NEXT
            record = self._record_for(key, state, at)
            changes = self._retiring(self._snapshot(), at) if activate else []
            if not self._store.transition_signing_keys(changes, (record,)):
                raise KeyRingError("another process changed the keys meanwhile; try again")
            logger.info("imported signing key %s as %s", key.kid, state)
            self._reinstall()

            return key.kid

    def retire(self, kid: str) -> KeyState:
        """Retire a ``next`` or ``retiring`` key at once; return the state it had.

        Refuse the active key: rotate first.  Retiring a ``retiring`` key
        early makes the tokens it signed fail once guards refetch the JWKS.
        """
        with self._lock:
            record = self._store.get_signing_key(kid)
            if record is None:
                raise KeyRingError(f"there is no signing key with kid {kid}")
            if record.state is KeyState.RETIRED:
                raise KeyRingError(f"signing key {kid} is already retired")
            actives = self._store.list_signing_keys((KeyState.ACTIVE,))
            if record.state is KeyState.ACTIVE and len(actives) < 2:
                raise KeyRingError(
                    f"signing key {kid} is the only active key: run `jwtmesh keys rotate "
                    "--now` first, then retire it"
                )
            retired = dataclasses.replace(record, state=KeyState.RETIRED)
            if not self._store.transition_signing_keys(((record.state, retired),)):
                raise KeyRingError("another process changed the keys meanwhile; try again")
            logger.info("retired signing key %s by hand (was %s)", kid, record.state)
            self._reinstall()

            return record.state

    # ------------------------------------------------------------- helpers
    def _snapshot(self) -> list[SigningKeyRecord]:
        return self._store.list_signing_keys(_PUBLISHED)

    def _new_record(self, state: KeyState, now: float) -> SigningKeyRecord:
        return self._record_for(Key.generate(self._alg), state, now)

    def _record_for(self, key: Key, state: KeyState, now: float) -> SigningKeyRecord:
        return SigningKeyRecord(
            kid=key.kid,
            alg=key.alg,
            state=state,
            sealed_private_key=seal_private_key(key, self._kek),
            public_jwk=key.public_jwk(),
            created_at=now,
            activated_at=now if state is KeyState.ACTIVE else None,
        )

    def _reinstall(self) -> None:
        if self._active is not None:
            self._install(self._snapshot())

    def _install(self, records: list[SigningKeyRecord], at_start: bool = False) -> None:
        active = _active_record(records)
        if active is not None and (self._active is None or self._active.kid != active.kid):
            try:
                self._active = self._unseal(active)
            except JoseError:
                if at_start or self._active is None:
                    raise StartupError(_damaged_message(active)) from None
                logger.error(
                    "%s; still signing with %s", _damaged_message(active), self._active.kid
                )
        if records != self._records:
            self._records = records
            self._keyset = KeySet(_public_keys(records))


def public_members(jwk: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``jwk`` without private members, whatever the stored row holds."""
    return {name: value for name, value in jwk.items() if name not in _PRIVATE_MEMBERS}


def _public_keys(records: Sequence[SigningKeyRecord]) -> list[Key]:
    keys = []
    for record in records:
        try:
            keys.append(Key.from_jwk(public_members(record.public_jwk)))
        except JoseError:
            logger.error("the public JWK of signing key %s is unusable; skipped", record.kid)
    return keys


def _newest_first(records: Sequence[SigningKeyRecord], state: KeyState) -> list[SigningKeyRecord]:
    chosen = [r for r in records if r.state is state]
    return sorted(chosen, key=lambda r: (r.created_at, r.kid), reverse=True)


def _active_record(records: Sequence[SigningKeyRecord]) -> SigningKeyRecord | None:
    actives = [r for r in records if r.state is KeyState.ACTIVE]
    if not actives:
        return None
    return max(actives, key=lambda r: (r.activated_at or r.created_at, r.kid))


def _damaged_message(record: SigningKeyRecord) -> str:
    return (
        f"signing key {record.kid} ({record.state}) cannot be unsealed: its row is damaged "
        "or was sealed under another key-encryption key; nothing was changed. Restore the "
        "row from a backup, or give the key up: `jwtmesh keys rotate --now` if it is the "
        f"active key, then `jwtmesh keys retire {record.kid}`"
    )


def start_key_schedule(ring: KeyRing, settings: AuthoritySettings) -> asyncio.Task[None]:
    """Apply the settings' key timing and tick ``ring`` every ``key_tick_interval`` seconds."""
    ring.timing = KeyTiming.from_settings(settings)
    margin = settings.publish_ahead - settings.jwks_max_age
    if margin < settings.key_tick_interval:
        logger.warning(
            "key_publish_ahead exceeds jwks_max_age by %.1f s, less than key_tick_interval: "
            "with several authority processes a guard may not know a new key yet",
            margin,
        )
    return asyncio.create_task(_tick_forever(ring, settings.key_tick_interval))


async def _tick_forever(ring: KeyRing, interval: float) -> None:
    while True:
        try:
            for change in await asyncio.to_thread(ring.tick):
                logger.info("key ring: %s", change)
        except Exception as exc:  # keep serving with the keys in memory; retry next tick
            logger.warning("key ring tick failed (%s)", type(exc).__name__)
        await asyncio.sleep(interval)
