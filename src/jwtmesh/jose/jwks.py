"""JWK Sets (RFC 7517 section 5): the public keys a verifier trusts, by ``kid``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from .errors import JWKError, KeyFormatError
from .keys import Key

__all__ = ["MAX_JWKS_KEYS", "KeySet"]

logger = logging.getLogger(__name__)
MAX_JWKS_KEYS = 32


class KeySet:
    """An immutable set of keys looked up by ``kid``."""

    __slots__ = ("_by_kid", "_only")

    def __init__(self, keys: Iterable[Key] = ()) -> None:
        self._by_kid: dict[str, Key] = {}
        for key in keys:
            if key.kid in self._by_kid:
                raise KeyFormatError("two keys share one kid")
            self._by_kid[key.kid] = key
        self._only = next(iter(self._by_kid.values())) if len(self._by_kid) == 1 else None

    @classmethod
    def from_jwks(
        cls, document: dict[str, Any] | bytes | str, *, max_keys: int = MAX_JWKS_KEYS
    ) -> KeySet:
        """Load the public keys of a JWKS document.

        Keys that cannot be used (unknown type, no ``alg``, encryption keys,
        duplicates) are skipped with a log line naming only the ``kid``;
        private members in a published set are ignored, never used.
        """
        try:
            obj = orjson.loads(document) if isinstance(document, bytes | str) else document
        except orjson.JSONDecodeError as exc:
            raise KeyFormatError("a JWKS must be a JSON object") from exc
        entries = obj.get("keys") if isinstance(obj, dict) else None
        if not isinstance(entries, list):
            raise KeyFormatError("a JWKS needs a 'keys' list")
        if len(entries) > max_keys:
            raise KeyFormatError(f"a JWKS may hold at most {max_keys} keys")
        keys: dict[str, Key] = {}
        for entry in entries:
            key = _public_key_or_none(entry)
            if key is not None and key.kid not in keys:
                keys[key.kid] = key
        return cls(keys.values())

    def get(self, kid: str | None) -> Key | None:
        """The key for ``kid``; with no ``kid``, the only key if there is exactly one."""
        if kid is None:
            return self._only
        return self._by_kid.get(kid)

    def to_jwks(self) -> dict[str, Any]:
        """The public JWKS document (private members never appear)."""
        return {"keys": [key.public_jwk() for key in self._by_kid.values()]}

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._by_kid)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._by_kid.values())

    def __len__(self) -> int:
        return len(self._by_kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._by_kid


def _public_key_or_none(entry: Any) -> Key | None:
    if not isinstance(entry, dict) or entry.get("kty") == "oct":
        return None
    public_only = {
        k: v for k, v in entry.items() if k not in {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
    }
    try:
        return Key.from_jwk(public_only)
    except JWKError as exc:
        kid = entry.get("kid") if isinstance(entry.get("kid"), str) else None
        logger.warning("skipping unusable JWKS entry kid=%.64s: %s", kid, exc)
        return None
