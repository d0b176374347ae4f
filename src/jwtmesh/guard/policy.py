"""Roles, the permissions they grant, and the route rules a service enforces.

A policy file (TOML)::

    [defaults]
    unknown_route = "deny"            # or "authenticated", "public"

    [roles.viewer]
    permissions = ["orders:read"]

    [roles.clerk]
    permissions = ["orders:write"]
    includes = ["viewer"]

    [[routes]]
    method = "POST"                   # or "*" (the default), or a list
    path = "/orders"                  # exact; "/orders/*" is a prefix; "{id}" one segment
    permission = "orders:write"       # or permissions = [...], authenticated = true, public = true

The most specific rule wins: exact paths before prefixes, then more literal
segments, then a named method before ``*``; ties go to the first in the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from ._errors import PolicyError

__all__ = ["Policy", "PolicyError", "RouteRule"]

_UNKNOWN_ROUTE = ("deny", "authenticated", "public")
_RULE_KEYS = frozenset({"method", "path", "permission", "permissions", "authenticated", "public"})


@dataclass(frozen=True)
class RouteRule:
    """What one route needs: nothing (``public``), a caller, or permissions."""

    methods: frozenset[str]
    path: str
    permissions: tuple[str, ...] = ()
    public: bool = False
    order: int = 0

    @property
    def is_prefix(self) -> bool:
        """True for a ``/path/*`` rule."""
        return self.path.endswith("/*")

    def segments(self) -> list[str]:
        """The path segments, without the trailing ``*`` of a prefix."""
        parts = self.path.strip("/").split("/")
        return parts[:-1] if self.is_prefix else parts

    def matches(self, method: str, parts: list[str]) -> bool:
        """True when ``method`` and the split request path fall under this rule."""
        if "*" not in self.methods and method not in self.methods:
            return False
        pattern = self.segments()
        if len(parts) < len(pattern) or (not self.is_prefix and len(parts) != len(pattern)):
            return False
        return all(_segment_matches(p, s) for p, s in zip(pattern, parts, strict=False))

    def specificity(self) -> tuple[int, int, int, int, int]:
        """Sort key: larger is more specific; the file order breaks ties."""
        literal = sum(1 for s in self.segments() if not _is_param(s))
        return (
            not self.is_prefix,
            len(self.segments()),
            literal,
            "*" not in self.methods,
            -self.order,
        )


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}") and len(segment) > 2


def _segment_matches(pattern: str, value: str) -> bool:
    return bool(value) if _is_param(pattern) else pattern == value


_MATCH_CACHE_SIZE = 4096


class Policy:
    """Role -> permission resolution and route rules, usually from :meth:`load`."""

    def __init__(
        self,
        roles: Mapping[str, Iterable[str]] | None = None,
        routes: Iterable[RouteRule] = (),
        *,
        includes: Mapping[str, Iterable[str]] | None = None,
        unknown_route: str = "deny",
    ) -> None:
        if unknown_route not in _UNKNOWN_ROUTE:
            choices = ", ".join(_UNKNOWN_ROUTE)
            raise PolicyError("defaults.unknown_route", f"must be one of {choices}")
        raw_roles = {name: frozenset(perms) for name, perms in (roles or {}).items()}
        raw_includes = {name: tuple(inc) for name, inc in (includes or {}).items()}
        self.roles: dict[str, frozenset[str]] = _flatten(raw_roles, raw_includes)
        self.routes = sorted(routes, key=RouteRule.specificity, reverse=True)
        self.unknown_route = unknown_route
        self._matched: dict[tuple[str, str], RouteRule | None] = {}

    # ------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read a TOML policy file; :class:`PolicyError` names the bad field."""
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError("file", f"cannot read ({exc.strerror})", source) from None
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError("file", f"not valid TOML ({exc})", source) from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> Policy:
        """Build from the parsed TOML document."""
        try:
            roles, includes = _parse_roles(data.get("roles", {}))
            routes = _parse_routes(data.get("routes", []))
            defaults = data.get("defaults", {})
            if not isinstance(defaults, dict):
                raise PolicyError("defaults", "must be a table")
            return cls(
                roles,
                routes,
                includes=includes,
                unknown_route=defaults.get("unknown_route", "deny"),
            )
        except PolicyError as exc:
            if source is None:
                raise
            raise PolicyError(exc.field, str(exc).split(": ", 1)[1], source) from None

    # ------------------------------------------------------------ queries
    def permissions_for(self, roles: Iterable[str]) -> frozenset[str]:
        """Every permission granted by ``roles`` (includes followed); unknown roles grant none."""
        granted: set[str] = set()
        for role in roles:
            granted |= self.roles.get(role, frozenset())
        return frozenset(granted)

    def match(self, method: str, path: str) -> RouteRule | None:
        """The most specific rule for this request, or None.

        Answers are remembered per (method, path) in a bounded table: most
        traffic repeats a few paths, and the rules never change once loaded.
        """
        key = (method, path)
        try:
            return self._matched[key]
        except KeyError:
            pass
        rule = self._find(method.upper(), path.strip("/").split("/"))
        if len(self._matched) >= _MATCH_CACHE_SIZE:
            self._matched.clear()
        self._matched[key] = rule
        return rule

    def _find(self, method: str, parts: list[str]) -> RouteRule | None:
        for rule in self.routes:
            if rule.matches(method, parts):
                return rule
        return None


def _flatten(
    roles: dict[str, frozenset[str]], includes: dict[str, tuple[str, ...]]
) -> dict[str, frozenset[str]]:
    for name, included in includes.items():
        for other in included:
            if other not in roles:
                raise PolicyError(f"roles.{name}.includes", f"unknown role {other!r}")
    resolved: dict[str, frozenset[str]] = {}

    def visit(name: str, trail: tuple[str, ...]) -> frozenset[str]:
        if name in trail:
            raise PolicyError(f"roles.{name}.includes", "roles include each other in a cycle")
        if name not in resolved:
            perms = set(roles[name])
            for other in includes.get(name, ()):
                perms |= visit(other, (*trail, name))
            resolved[name] = frozenset(perms)
        return resolved[name]

    for name in roles:
        visit(name, ())
    return resolved


def _string_list(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(field, "must be a list of non-empty strings")
    return value


def _parse_roles(table: Any) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    if not isinstance(table, dict):
        raise PolicyError("roles", "must be a table of [roles.<name>]")
    roles: dict[str, list[str]] = {}
    includes: dict[str, list[str]] = {}
    for name, body in table.items():
        if not isinstance(body, dict):
            raise PolicyError(f"roles.{name}", "must be a table")
        unknown = set(body) - {"permissions", "includes"}
        if unknown:
            raise PolicyError(f"roles.{name}.{sorted(unknown)[0]}", "unknown key")
        roles[name] = _string_list(body.get("permissions", []), f"roles.{name}.permissions")
        includes[name] = _string_list(body.get("includes", []), f"roles.{name}.includes")
    return roles, includes


def _parse_routes(items: Any) -> list[RouteRule]:
    if not isinstance(items, list):
        raise PolicyError("routes", "must be an array of [[routes]] tables")
    return [_parse_route(item, f"routes[{i}]", i) for i, item in enumerate(items)]


def _parse_route(item: Any, where: str, order: int) -> RouteRule:
    if not isinstance(item, dict):
        raise PolicyError(where, "must be a table")
    unknown = set(item) - _RULE_KEYS
    if unknown:
        raise PolicyError(f"{where}.{sorted(unknown)[0]}", "unknown key")
    path = item.get("path")
    if not _valid_path(path):
        raise PolicyError(f"{where}.path", "must start with '/' and may end with '/*'")
    methods = _parse_methods(item.get("method", "*"), f"{where}.method")
    permissions = _parse_permissions(item, where)
    public = item.get("public", False)
    if not isinstance(public, bool) or not isinstance(item.get("authenticated", False), bool):
        raise PolicyError(f"{where}.public", "public and authenticated must be true or false")
    if public and permissions:
        raise PolicyError(f"{where}.public", "a public route cannot require permissions")
    if not (public or permissions or item.get("authenticated")):
        raise PolicyError(where, "needs one of permission, permissions, authenticated, public")
    return RouteRule(methods, path, tuple(permissions), public, order)


def _valid_path(path: Any) -> TypeGuard[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        return False
    return "*" not in path or (path.endswith("/*") and path.count("*") == 1)


def _parse_methods(value: Any, field: str) -> frozenset[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise PolicyError(field, "must be an HTTP method, '*', or a list of methods")
    return frozenset(v.upper() for v in values)


def _parse_permissions(item: dict[str, Any], where: str) -> list[str]:
    if "permission" in item and "permissions" in item:
        raise PolicyError(f"{where}.permission", "give permission or permissions, not both")
    if "permission" in item:
        if not isinstance(item["permission"], str) or not item["permission"]:
            raise PolicyError(f"{where}.permission", "must be a non-empty string")
        return [item["permission"]]
    return _string_list(item.get("permissions", []), f"{where}.permissions")
