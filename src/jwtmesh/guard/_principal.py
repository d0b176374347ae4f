"""The authenticated caller, the same whichever way the credential was checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from jwtmesh.jose import InvalidClaimError

__all__ = ["Principal", "RoleResolver"]

RoleResolver = Callable[[Iterable[str]], frozenset[str]]
"""Maps role names to the permissions they grant (see :meth:`Policy.permissions_for`)."""


def _strings(value: Any) -> frozenset[str]:
    """The space-separated words of ``scope`` (RFC 6749 section 3.3)."""
    if isinstance(value, str):
        return frozenset(value.split())
    return frozenset()


def _string_list(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    """A claim that must be a JSON array of strings (``roles``, ``permissions``) when present.

    A lone string is refused rather than read as one role: two readers of the
    same token must never disagree about what it grants.
    """
    value = claims.get(name)
    if value is None and name not in claims:
        return frozenset()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidClaimError(f"claim {name!r} must be an array of strings", claim=name)
    return frozenset(value)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: subject, roles, OAuth scopes, effective permissions and more.

    ``claims`` is a read-only view of everything the credential carried.
    """

    subject: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    client_id: str | None = None
    actor: str | None = None
    expires_at: float = 0.0
    token_id: str | None = None
    session: str | None = None
    claims: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )

    @classmethod
    def from_claims(
        cls, claims: Mapping[str, Any], resolve_roles: RoleResolver | None = None
    ) -> Principal:
        """Build from RFC 9068 claims (or an introspection response, or a session record).

        Permissions come from the ``permissions`` claim when the credential
        carries one, else from the roles through ``resolve_roles``.
        """
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidClaimError("claim 'sub' must be a non-empty string", claim="sub")
        roles = _string_list(claims, "roles")
        if "permissions" in claims:
            permissions = _string_list(claims, "permissions")
        else:
            permissions = resolve_roles(roles) if resolve_roles is not None else frozenset()
        act = claims.get("act")
        exp = claims.get("exp")
        return cls(
            subject=subject,
            roles=roles,
            scopes=_strings(claims.get("scope", "")),
            permissions=permissions,
            client_id=_optional_str(claims.get("client_id")),
            actor=_optional_str(act.get("sub")) if isinstance(act, Mapping) else None,
            expires_at=float(exp) if isinstance(exp, int | float) else 0.0,
            token_id=_optional_str(claims.get("jti")),
            session=_optional_str(claims.get("sid")),
            claims=MappingProxyType(dict(claims)),
        )

    def permits(self, permission: str) -> bool:
        """True when ``permission`` is granted, by a role or as an OAuth scope of the token."""
        return permission in self.permissions or permission in self.scopes

    def permits_all(self, permissions: Iterable[str]) -> bool:
        """True when every one of ``permissions`` is granted."""
        return all(self.permits(p) for p in permissions)

    def missing(self, permissions: Iterable[str]) -> list[str]:
        """The ones of ``permissions`` that are not granted, in the given order."""
        return [p for p in permissions if not self.permits(p)]
