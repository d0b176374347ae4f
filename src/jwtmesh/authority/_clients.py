"""Client records, cached briefly, and client authentication (RFC 6749 section 2.3)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from jwtmesh.authority._errors import OAuthError
from jwtmesh.authority._secrets import ClientSecretHasher
from jwtmesh.store import ClientRecord, ClientStore

__all__ = ["ClientCredentials", "ClientRegistry"]


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What a request presented: from HTTP Basic or from the form, never both."""

    client_id: str | None
    secret: str | None
    via_basic: bool = False


class ClientRegistry:
    """Looks clients up through a small in-memory cache and checks their secrets."""

    def __init__(
        self,
        store: ClientStore,
        hasher: ClientSecretHasher,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._ttl = ttl
        self._clock = clock
        # Only found clients are cached: one added by the CLI is usable at once.
        self._cache: dict[str, tuple[float, ClientRecord]] = {}

    def get(self, client_id: str) -> ClientRecord | None:
        """The client, from the cache when it is younger than the TTL."""
        hit = self._cache.get(client_id)
        now = self._clock()
        if hit is not None and hit[0] > now:
            return hit[1]
        record = self._store.get_client(client_id)
        if record is not None and self._ttl > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[client_id] = (now + self._ttl, record)

        return record

    def forget(self, client_id: str) -> None:
        """Drop a cached record (after a change made in this process)."""
        self._cache.pop(client_id, None)

    def authenticate(self, creds: ClientCredentials, *, allow_public: bool) -> ClientRecord:
        """The client the credentials prove, or ``invalid_client`` (401)."""
        if not creds.client_id:
            raise _invalid_client(creds, "client authentication is required")
        client = self.get(creds.client_id)
        if client is None or client.disabled:
            raise _invalid_client(creds, "unknown client or wrong secret")
        if client.is_public:
            if creds.secret or not allow_public:
                raise _invalid_client(creds, "this client cannot authenticate here")
            return client
        if not creds.secret or not self._hasher.matches(creds.secret, client.secret_digest):
            raise _invalid_client(creds, "unknown client or wrong secret")

        return client


def _invalid_client(creds: ClientCredentials, description: str) -> OAuthError:
    # RFC 6749 section 5.2: answer 401 with a challenge when Basic was used.
    headers = {"WWW-Authenticate": 'Basic realm="jwtmesh"'} if creds.via_basic else {}
    return OAuthError("invalid_client", description, 401, headers)
