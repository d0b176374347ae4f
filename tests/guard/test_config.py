"""GuardSettings, Policy, Principal and the exported names: no I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import jwtmesh.guard
from jwtmesh.guard import GuardSettings, Policy, PolicyError, Principal, SettingsError
from jwtmesh.jose import InvalidClaimError

BASE: dict[str, Any] = {
    "issuer": "https://auth.test",
    "audience": "orders",
    "jwks_url": "http://127.0.0.1:1/jwks",
}


def test_settings_defaults() -> None:
    settings = GuardSettings(**BASE)
    assert settings.algorithms == ("ES256", "EdDSA", "Ed25519", "RS256", "PS256")
    assert (settings.leeway, settings.max_token_size, settings.mode) == (30, 8192, "jwt")
    assert settings.revocation_stance == "serve"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"algorithms": ("ES256", "none")}, "algorithms"),
        ({"algorithms": ("HS256",)}, "algorithms"),
        ({"mode": "magic"}, "mode"),
        ({"leeway": -1}, "leeway"),
        ({"mode": "introspection"}, "introspection_url"),
        ({"mode": "session"}, "redis_url"),
        ({"revocation_stance": "panic"}, "revocation_stance"),
        ({"issuer": ""}, "issuer"),
    ],
)
def test_settings_errors_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(SettingsError) as caught:
        GuardSettings(**{**BASE, **overrides})
    assert caught.value.field == field
    assert str(caught.value).startswith(field + ":")


def test_hmac_needs_an_explicit_secret() -> None:
    settings = GuardSettings(**{**BASE, "algorithms": ("HS256",), "secret_key": b"k" * 32})
    assert "k" * 32 not in repr(settings)


def test_from_env() -> None:
    env = {
        "JWTMESH_GUARD_ISSUER": "https://auth.test",
        "JWTMESH_GUARD_AUDIENCE": "orders",
        "JWTMESH_GUARD_JWKS_URL": "http://a/jwks",
        "JWTMESH_GUARD_LEEWAY": "5",
        "JWTMESH_GUARD_ALGORITHMS": "ES256, EdDSA",
        "JWTMESH_GUARD_PUBLIC_PATHS": "/a,/b",
    }
    settings = GuardSettings.from_env(environ=env)
    assert settings.leeway == 5
    assert settings.algorithms == ("ES256", "EdDSA")
    assert settings.public_paths == ("/a", "/b")


@pytest.mark.parametrize(
    ("name", "value"), [("LEEWAY", "soon"), ("MODE", "magic"), ("ALGORITHMS", "none")]
)
def test_from_env_errors_name_the_variable(name: str, value: str) -> None:
    env = {
        "JWTMESH_GUARD_ISSUER": "i",
        "JWTMESH_GUARD_AUDIENCE": "a",
        "JWTMESH_GUARD_JWKS_URL": "http://a",
        f"JWTMESH_GUARD_{name}": value,
    }
    with pytest.raises(SettingsError) as caught:
        GuardSettings.from_env(environ=env)
    assert caught.value.field == f"JWTMESH_GUARD_{name}"


POLICY = """
[defaults]
unknown_route = "authenticated"

[roles.viewer]
permissions = ["orders:read"]

[roles.clerk]
permissions = ["orders:write"]
includes = ["viewer"]

[roles.admin]
permissions = ["orders:delete"]
includes = ["clerk"]

[[routes]]
path = "/orders/*"
permission = "orders:read"

[[routes]]
method = ["POST", "PUT"]
path = "/orders/{id}/items"
permissions = ["orders:write"]

[[routes]]
method = "GET"
path = "/orders/{id}"
authenticated = true

[[routes]]
path = "/status"
public = true
"""


def test_policy_roles_and_routes(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    policy = Policy.load(path)
    assert policy.permissions_for(["admin"]) == {"orders:read", "orders:write", "orders:delete"}
    assert policy.permissions_for(["nobody"]) == frozenset()
    assert policy.unknown_route == "authenticated"
    exact = policy.match("GET", "/orders/7")
    items = policy.match("post", "/orders/7/items")
    prefix = policy.match("DELETE", "/orders/7/items")
    assert exact is not None and exact.permissions == ()
    assert items is not None and items.permissions == ("orders:write",)
    assert prefix is not None and prefix.permissions == ("orders:read",)
    assert policy.match("GET", "/status") is not None
    assert policy.match("GET", "/elsewhere") is None


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[roles.a]\npermissions = 'x'", "roles.a.permissions"),
        ("[roles.a]\nincludes = ['ghost']", "roles.a.includes"),
        ("[roles.a]\nincludes = ['b']\n[roles.b]\nincludes = ['a']", "roles.a.includes"),
        ("[[routes]]\npath = 'orders'\npublic = true", "routes[0].path"),
        ("[[routes]]\npath = '/a'\npublic = true\n[[routes]]\npath = '/b'", "routes[1]"),
        ("[[routes]]\npath = '/a'\npermision = 'x'", "routes[0].permision"),
        ("[defaults]\nunknown_route = 'maybe'", "defaults.unknown_route"),
        ("roles = [", "file"),
    ],
)
def test_bad_policy_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        Policy.load(path)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{path}: {field}: ")


def test_principal_from_claims() -> None:
    claims = {
        "sub": "svc-a",
        "scope": "orders:read  stock:read",
        "roles": ["clerk"],
        "client_id": "web",
        "act": {"sub": "gateway"},
        "exp": 2_000_000_000,
        "jti": "j1",
    }
    policy = Policy(roles={"clerk": ["orders:write"]})
    principal = Principal.from_claims(claims, policy.permissions_for)
    assert principal.roles == {"clerk"}
    assert principal.scopes == {"orders:read", "stock:read"}
    assert principal.permissions == {"orders:write"}
    assert (principal.actor, principal.client_id, principal.token_id) == ("gateway", "web", "j1")
    assert principal.permits("stock:read") and not principal.permits("orders:delete")
    embedded = Principal.from_claims({**claims, "permissions": ["x"]}, policy.permissions_for)
    assert embedded.permissions == {"x"}
    with pytest.raises(TypeError):
        principal.claims["sub"] = "root"  # type: ignore[index]


@pytest.mark.parametrize(
    ("claims", "claim"),
    [
        ({"sub": "a", "roles": "admin"}, "roles"),
        ({"sub": "a", "roles": ["user", 1]}, "roles"),
        ({"sub": "a", "roles": None}, "roles"),
        ({"sub": "a", "permissions": "orders:write"}, "permissions"),
        ({"sub": ""}, "sub"),
        ({"sub": None}, "sub"),
        ({}, "sub"),
    ],
)
def test_principal_refuses_claims_of_the_wrong_shape(claims: dict[str, Any], claim: str) -> None:
    with pytest.raises(InvalidClaimError) as refused:
        Principal.from_claims(claims)
    assert refused.value.code == "invalid_claim"
    assert refused.value.claim == claim


def test_exports_are_sorted_and_complete() -> None:
    exported = jwtmesh.guard.__all__
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), n[0].islower(), n))
    assert all(hasattr(jwtmesh.guard, name) for name in exported)


def test_route_match_answers_are_remembered_but_bounded() -> None:
    from jwtmesh.guard import policy as policy_module

    rules = Policy.from_dict(
        {
            "routes": [
                {"method": "GET", "path": "/orders/{id}", "permission": "orders:read"},
                {"method": "POST", "path": "/orders", "permission": "orders:write"},
            ]
        }
    )
    first = rules.match("GET", "/orders/7")
    assert first is not None and first.permissions == ("orders:read",)
    assert rules.match("GET", "/orders/7") is first
    assert rules.match("DELETE", "/orders/7") is None
    for i in range(policy_module._MATCH_CACHE_SIZE + 10):
        rules.match("GET", f"/orders/{i}")
    assert len(rules._matched) <= policy_module._MATCH_CACHE_SIZE
    assert rules.match("POST", "/orders") is not None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"Bearer abc.def-ghi_jkl~+/==", "abc.def-ghi_jkl~+/=="),
        (b"bearer  abc ", "abc"),
        (b"Bearer ab=cd", "malformed_header"),
        (b"Bearer ab cd", "malformed_header"),
        (b"Bearer abc\xc3\xa9", "malformed_header"),
        (b"Bearer ===", "malformed_header"),
        (b"Bearer ", "malformed_header"),
        (b"Basic abc", "missing_token"),
        (b"Bearer " + b"a" * 9000, "too_large"),
    ],
)
def test_bearer_header_follows_rfc_6750_b64token(header: bytes, expected: str) -> None:
    from jwtmesh.guard._middleware import Rejection, extract_bearer

    outcome = extract_bearer({"headers": [(b"authorization", header)]}, 8192)
    got = outcome.code if isinstance(outcome, Rejection) else outcome
    assert got == expected
