"""Login, refresh rotation, client credentials and token exchange over real HTTP."""

from __future__ import annotations

import time

from jwtmesh.authority import TOKEN_TYPE_ACCESS
from jwtmesh.jose import InvalidAudienceError, decode

from .helpers import PASSWORD, Authority

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _refresh(authority: Authority, token: str, client_id: str = "shop-web") -> dict[str, object]:
    reply = authority.token(
        {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
    )
    return {"status": reply.status, **reply.json()}


def test_login_issues_rfc9068_access_token(authority: Authority) -> None:
    reply = authority.request("POST", "/login", json={"username": "alice", "password": PASSWORD})
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "no-store"
    body = reply.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert len(body["refresh_token"]) >= 43
    claims = authority.decode(body["access_token"], "orders")
    assert claims["sub"] == "alice" and claims["client_id"] == "shop-web"
    assert claims["aud"] == ["gateway", "users", "catalog", "orders"]
    assert claims["roles"] == ["customer"]
    assert claims["permissions"] == ["catalog:read", "orders:read", "orders:write"]
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"]
    assert claims["scope"] == body["scope"] == "openid profile"
    assert isinstance(claims["sid"], str) and isinstance(claims["jti"], str)


def test_token_header_names_a_served_key(authority: Authority) -> None:
    import base64
    import json

    token = authority.login()["access_token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    assert authority.keys().get(header["kid"]) is not None


def test_login_with_one_audience_and_narrow_scope(authority: Authority) -> None:
    body = authority.login(audience="orders", scope="profile")
    claims = authority.decode(body["access_token"], "orders")
    assert claims["aud"] == "orders" and claims["scope"] == "profile"
    try:
        authority.decode(body["access_token"], "users")
    except InvalidAudienceError:
        pass
    else:
        raise AssertionError("a token for orders was accepted by users")


def test_login_refuses_audience_the_client_lacks(authority: Authority) -> None:
    reply = authority.request(
        "POST", "/login", json={"username": "alice", "password": PASSWORD, "audience": "bank"}
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_target"


def test_login_refuses_scope_the_client_lacks(authority: Authority) -> None:
    reply = authority.request(
        "POST", "/login", json={"username": "alice", "password": PASSWORD, "scope": "admin"}
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_scope"


def test_wrong_password_and_unknown_user_look_the_same(authority: Authority) -> None:
    wrong = authority.request("POST", "/login", json={"username": "alice", "password": "nope"})
    unknown = authority.request("POST", "/login", json={"username": "zed", "password": "nope"})
    assert wrong.status == unknown.status == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_grant"


def test_login_with_unknown_client_is_invalid_client(authority: Authority) -> None:
    reply = authority.request(
        "POST", "/login", json={"username": "alice", "password": PASSWORD, "client_id": "evil"}
    )
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"


def test_login_through_confidential_client_without_login_grant_is_refused(
    authority: Authority,
) -> None:
    reply = authority.request(
        "POST",
        "/login",
        json={"username": "alice", "password": PASSWORD, "client_id": "orders-svc"},
    )
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"


def test_refresh_rotates_and_keeps_family(authority: Authority) -> None:
    first = authority.login()
    second = _refresh(authority, first["refresh_token"])
    assert second["status"] == 200
    assert second["refresh_token"] != first["refresh_token"]
    old = authority.decode(first["access_token"], "orders")
    new = authority.decode(str(second["access_token"]), "orders")
    assert new["sid"] == old["sid"] and new["jti"] != old["jti"]
    assert new["aud"] == old["aud"] and new["roles"] == ["customer"]


def test_reuse_within_grace_is_refused_but_family_survives(authority: Authority) -> None:
    first = authority.login()
    second = _refresh(authority, first["refresh_token"])
    again = _refresh(authority, first["refresh_token"])
    assert again["status"] == 400 and again["error"] == "invalid_grant"
    third = _refresh(authority, str(second["refresh_token"]))
    assert third["status"] == 200


def test_reuse_after_grace_revokes_the_family(authority: Authority) -> None:
    first = authority.login()
    second = _refresh(authority, first["refresh_token"])
    time.sleep(authority.settings.refresh_reuse_grace + 0.2)
    reuse = _refresh(authority, first["refresh_token"])
    assert reuse["status"] == 400 and reuse["error"] == "invalid_grant"
    stolen = _refresh(authority, str(second["refresh_token"]))
    assert stolen["status"] == 400 and stolen["error"] == "invalid_grant"


def test_refresh_token_of_another_client_is_refused(authority: Authority) -> None:
    mobile = authority.login(client_id="mobile-app")
    stolen = _refresh(authority, mobile["refresh_token"], client_id="shop-web")
    assert stolen["status"] == 400 and stolen["error"] == "invalid_grant"
    assert _refresh(authority, mobile["refresh_token"], client_id="mobile-app")["status"] == 200


def test_client_without_refresh_grant_cannot_refresh(authority: Authority) -> None:
    first = authority.login()
    reply = authority.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        basic=authority.creds("orders-svc"),
    )
    assert reply.status == 400
    assert reply.json()["error"] == "unauthorized_client"


def test_unknown_refresh_token_is_invalid_grant(authority: Authority) -> None:
    body = _refresh(authority, "x" * 43)
    assert body["status"] == 400 and body["error"] == "invalid_grant"


def test_refresh_can_narrow_scope(authority: Authority) -> None:
    first = authority.login()
    reply = authority.token(
        {
            "grant_type": "refresh_token",
            "client_id": "shop-web",
            "refresh_token": first["refresh_token"],
            "scope": "openid",
        }
    )
    assert reply.status == 200 and reply.json()["scope"] == "openid"
    widen = authority.token(
        {
            "grant_type": "refresh_token",
            "client_id": "shop-web",
            "refresh_token": reply.json()["refresh_token"],
            "scope": "admin",
        }
    )
    assert widen.status == 400 and widen.json()["error"] == "invalid_scope"


def test_client_credentials_with_basic_auth(authority: Authority) -> None:
    reply = authority.token(
        {"grant_type": "client_credentials", "audience": "catalog"},
        basic=authority.creds("orders-svc"),
    )
    assert reply.status == 200 and reply.headers["Cache-Control"] == "no-store"
    body = reply.json()
    assert "refresh_token" not in body
    claims = authority.decode(body["access_token"], "catalog")
    assert claims["sub"] == "orders-svc" == claims["client_id"]
    assert claims["aud"] == "catalog" and claims["roles"] == ["service"]


def test_client_credentials_with_form_secret_and_resource(authority: Authority) -> None:
    client_id, secret = authority.creds("catalog-svc")
    reply = authority.token(
        {
            "grant_type": "client_credentials",
            "resource": "orders",
            "client_id": client_id,
            "client_secret": secret,
        }
    )
    assert reply.status == 200
    assert authority.decode(reply.json()["access_token"], "orders")["sub"] == "catalog-svc"


def test_client_credentials_wrong_secret(authority: Authority) -> None:
    reply = authority.token({"grant_type": "client_credentials"}, basic=("orders-svc", "guess"))
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"
    assert reply.headers["WWW-Authenticate"].startswith("Basic")


def test_client_credentials_unknown_client(authority: Authority) -> None:
    reply = authority.token(
        {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}
    )
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"


def test_client_credentials_audience_not_allowed(authority: Authority) -> None:
    reply = authority.token(
        {"grant_type": "client_credentials", "audience": "orders"},
        basic=authority.creds("orders-svc"),
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_target"


def test_public_client_cannot_use_client_credentials(authority: Authority) -> None:
    reply = authority.token({"grant_type": "client_credentials", "client_id": "shop-web"})
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"


def test_password_grant_is_not_supported(authority: Authority) -> None:
    reply = authority.token(
        {
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": "shop-web",
        }
    )
    assert reply.status == 400
    assert reply.json()["error"] == "unsupported_grant_type"


def test_unknown_grant_type(authority: Authority) -> None:
    reply = authority.token({"grant_type": "urn:example:magic"})
    assert reply.status == 400
    assert reply.json()["error"] == "unsupported_grant_type"


def test_token_exchange_keeps_user_and_names_actor(authority: Authority) -> None:
    user = authority.login(audience="orders")
    subject = authority.decode(user["access_token"], "orders")
    reply = authority.token(
        {
            "grant_type": EXCHANGE,
            "subject_token": user["access_token"],
            "subject_token_type": TOKEN_TYPE_ACCESS,
            "audience": "users",
        },
        basic=authority.creds("orders-svc"),
    )
    assert reply.status == 200
    body = reply.json()
    assert body["issued_token_type"] == TOKEN_TYPE_ACCESS and "refresh_token" not in body
    claims = authority.decode(body["access_token"], "users")
    assert claims["sub"] == "alice" and claims["roles"] == ["customer"]
    assert claims["act"] == {"sub": "orders-svc"} and claims["aud"] == "users"
    assert claims["client_id"] == "orders-svc" and claims["sid"] == subject["sid"]
    assert claims["exp"] <= subject["exp"]


def test_token_exchange_to_audience_not_allowed(authority: Authority) -> None:
    user = authority.login()
    reply = authority.token(
        {
            "grant_type": EXCHANGE,
            "subject_token": user["access_token"],
            "subject_token_type": TOKEN_TYPE_ACCESS,
            "audience": "orders",
        },
        basic=authority.creds("orders-svc"),
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_target"


def test_token_exchange_rejects_forged_subject(authority: Authority) -> None:
    from jwtmesh.jose import Key, encode

    forged = encode(
        {
            "iss": authority.settings.issuer,
            "sub": "root",
            "aud": "orders",
            "exp": int(time.time()) + 60,
            "iat": int(time.time()),
            "jti": "f",
        },
        Key.generate("ES256"),
    )
    reply = authority.token(
        {
            "grant_type": EXCHANGE,
            "subject_token": forged,
            "subject_token_type": TOKEN_TYPE_ACCESS,
            "audience": "users",
        },
        basic=authority.creds("orders-svc"),
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_grant"


def test_token_exchange_needs_the_grant(authority: Authority) -> None:
    user = authority.login()
    reply = authority.token(
        {
            "grant_type": EXCHANGE,
            "subject_token": user["access_token"],
            "subject_token_type": TOKEN_TYPE_ACCESS,
            "audience": "orders",
        },
        basic=authority.creds("catalog-svc"),
    )
    assert reply.status == 400
    assert reply.json()["error"] == "unauthorized_client"


def test_token_exchange_requires_subject_token_type(authority: Authority) -> None:
    user = authority.login()
    reply = authority.token(
        {"grant_type": EXCHANGE, "subject_token": user["access_token"], "audience": "users"},
        basic=authority.creds("orders-svc"),
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"


def test_exchanged_token_verifies_with_jose_decode(authority: Authority) -> None:
    user = authority.login()
    reply = authority.token(
        {
            "grant_type": EXCHANGE,
            "subject_token": user["access_token"],
            "subject_token_type": TOKEN_TYPE_ACCESS,
            "audience": "catalog",
        },
        basic=authority.creds("orders-svc"),
    )
    claims = decode(
        reply.json()["access_token"],
        authority.keys(),
        issuer="http://auth.test",
        audience="catalog",
    )
    assert claims["act"]["sub"] == "orders-svc"
