"""Storage for the authority: small protocols and one SQL implementation.

``SqlStore.open("sqlite:///jwtmesh.db")`` (the default) or
``SqlStore.open("postgresql+psycopg://user@host/db")`` connects and applies
the versioned migrations shipped in ``jwtmesh/store/migrations``;
:func:`migrate` does the latter alone.
"""

from jwtmesh.store._engine import create_engine, migrate
from jwtmesh.store._records import (
    AlreadyExistsError,
    ClientRecord,
    KeyState,
    RefreshTokenRecord,
    RevocationEvent,
    SigningKeyRecord,
    StoreError,
    UserRecord,
)
from jwtmesh.store.protocols import (
    ClientStore,
    EventStore,
    KeyStore,
    RefreshTokenStore,
    RevocationStore,
    Store,
    UserStore,
)
from jwtmesh.store.sql import SqlStore

__all__ = [
    "AlreadyExistsError",
    "ClientRecord",
    "ClientStore",
    "EventStore",
    "KeyState",
    "KeyStore",
    "RefreshTokenRecord",
    "RefreshTokenStore",
    "RevocationEvent",
    "RevocationStore",
    "SigningKeyRecord",
    "SqlStore",
    "Store",
    "StoreError",
    "UserRecord",
    "UserStore",
    "create_engine",
    "migrate",
]
