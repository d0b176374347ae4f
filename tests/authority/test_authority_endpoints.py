"""JWKS, discovery, health, and bad input: every refusal is a 4xx with a reason, never a 500."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from .helpers import PASSWORD, Authority


def test_jwks_lists_public_keys_with_cache_header(authority: Authority) -> None:
    reply = authority.request("GET", "/.well-known/jwks.json")
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "public, max-age=300"
    keys = reply.json()["keys"]
    assert len(keys) == 1
    assert keys[0]["alg"] == "ES256" and keys[0]["use"] == "sig" and keys[0]["kid"]
    assert "d" not in keys[0]


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
)
def test_discovery_documents(authority: Authority, path: str) -> None:
    reply = authority.request("GET", path)
    assert reply.status == 200
    meta = reply.json()
    assert meta["issuer"] == "http://auth.test"
    assert meta["token_endpoint"] == "http://auth.test/oauth/token"
    assert meta["jwks_uri"] == "http://auth.test/.well-known/jwks.json"
    assert meta["revocation_endpoint"] == "http://auth.test/oauth/revoke"
    assert meta["introspection_endpoint"] == "http://auth.test/oauth/introspect"
    assert "password" not in meta["grant_types_supported"]
    assert "client_credentials" in meta["grant_types_supported"]
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"]


def test_healthz(authority: Authority) -> None:
    reply = authority.request("GET", "/healthz")
    assert reply.status == 200 and reply.json()["status"] == "ok"


def test_body_over_the_cap_is_413(authority: Authority) -> None:
    big = {"username": "alice", "password": "x" * (70 * 1024)}
    reply = authority.request("POST", "/login", json=big)
    assert reply.status == 413
    assert reply.json()["error"] == "invalid_request"
    assert "65536" in reply.json()["error_description"]


def test_streamed_body_over_the_cap_is_413(authority: Authority) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(80):
            yield b"a" * 1024

    reply = authority.request(
        "POST",
        "/oauth/token",
        data=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 413


@pytest.mark.parametrize(
    ("body", "content_type", "needle"),
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b'{"username": 5, "password": "x"}', "application/json", "'username'"),
        (b'{"password": "x"}', "application/json", "'username'"),
        (b'{"username": "alice"}', "application/json", "'password'"),
        (b'{"username": "alice", "password": "x", "scope": []}', "application/json", "'scope'"),
        (b"username=alice", "application/x-www-form-urlencoded", "application/json"),
        (b'{"username": "alice", "password": "\\ud800"}', "application/json", None),
    ],
)
def test_malformed_login_is_400(
    authority: Authority, body: bytes, content_type: str, needle: str | None
) -> None:
    reply = authority.request("POST", "/login", data=body, headers={"Content-Type": content_type})
    assert reply.status in (400, 401)
    assert reply.json()["error"] in ("invalid_request", "invalid_grant")
    if needle is not None:
        assert reply.status == 400 and needle in reply.json()["error_description"]


@pytest.mark.parametrize(
    ("body", "content_type", "needle"),
    [
        (
            b"grant_type=client_credentials&grant_type=password",
            "application/x-www-form-urlencoded",
            "'grant_type' is repeated",
        ),
        (b'{"grant_type": "client_credentials"}', "application/json", "Content-Type"),
        (b"\xff\xfe=\x00", "application/x-www-form-urlencoded", "malformed"),
        (b"scope=x", "application/x-www-form-urlencoded", "grant_type is required"),
        (
            b"grant_type=refresh_token&client_id=shop-web",
            "application/x-www-form-urlencoded",
            "refresh_token is required",
        ),
    ],
)
def test_malformed_token_request_is_400(
    authority: Authority, body: bytes, content_type: str, needle: str
) -> None:
    reply = authority.request(
        "POST", "/oauth/token", data=body, headers={"Content-Type": content_type}
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"
    assert needle in reply.json()["error_description"]
    assert reply.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + "b3JkZXJzLXN2Yw==", "Basic "])
def test_malformed_basic_credentials_are_401(authority: Authority, header: str) -> None:
    reply = authority.request(
        "POST",
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": header},
    )
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"


def test_two_client_auth_methods_are_refused(authority: Authority) -> None:
    client_id, secret = authority.creds("orders-svc")
    reply = authority.token(
        {"grant_type": "client_credentials", "client_secret": secret}, basic=(client_id, secret)
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"


def test_logs_hold_no_secret(authority: Authority, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    session = authority.login()
    authority.request("POST", "/login", json={"username": "alice", "password": "hunter2-wrong"})
    first = authority.token(
        {
            "grant_type": "refresh_token",
            "client_id": "shop-web",
            "refresh_token": session["refresh_token"],
        }
    )
    assert first.status == 200
    authority.token({"grant_type": "client_credentials"}, basic=authority.creds("orders-svc"))
    authority.token({"grant_type": "client_credentials"}, basic=("orders-svc", "s3cr3t-guess"))
    text = caplog.text
    assert "login refused" in text  # the capture works...
    for secret in (
        PASSWORD,
        "hunter2-wrong",
        session["refresh_token"],
        session["access_token"],
        authority.secrets["orders-svc"],
        "s3cr3t-guess",
    ):
        assert secret not in text  # ...and holds none of these
