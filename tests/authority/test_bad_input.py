"""Bad input gets a 4xx that names what is wrong, never a 500 (RFC 6749 ``invalid_request``)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from .helpers import Authority, Reply

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def _error(reply: Reply) -> tuple[int, str, str]:
    body = reply.json()
    return reply.status, body["error"], body["error_description"]


def _login(authority: Authority, body: Any) -> Reply:
    return authority.request("POST", "/login", json=body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "u" * 257, "password": "x"}, "username"),
        ({"username": "alice", "password": "p" * 1025}, "password"),
        ({"username": "alice"}, "password"),
        ({"password": "x"}, "username"),
        ({"username": 7, "password": "x"}, "username"),
        ({"username": ["alice"], "password": "x"}, "username"),
        ({"username": "alice", "password": {"$ne": ""}}, "password"),
        ({"username": "al\x00ice", "password": "x"}, "username"),
        ({"username": "alice", "password": "x", "scope": "s" * 201}, "scope"),
        ({"username": "alice", "password": "x", "client_id": False}, "client_id"),
    ],
)
def test_login_field_errors_name_the_field(
    authority: Authority, body: dict[str, Any], field: str
) -> None:
    status, error, description = _error(_login(authority, body))
    assert (status, error) == (400, "invalid_request")
    assert f"'{field}'" in description


def test_longest_allowed_username_is_an_ordinary_failure(authority: Authority) -> None:
    status, error, _ = _error(_login(authority, {"username": "u" * 256, "password": "x"}))
    assert (status, error) == (401, "invalid_grant")


@pytest.mark.parametrize(
    ("raw", "headers", "words"),
    [
        (b"not json", JSON, "not valid JSON"),
        (b'["alice", "x"]', JSON, "JSON object"),
        (b"[" * 10_000, JSON, "not valid JSON"),
        (b'{"username": "\\ud800", "password": "x"}', JSON, "not valid JSON"),
        (b"\xff\xfe{}", JSON, "not valid JSON"),
        (b'{"username": "alice", "password": "x"}', {"Content-Type": "text/plain"}, "Content-Type"),
    ],
)
def test_malformed_login_bodies_are_400(
    authority: Authority, raw: bytes, headers: dict[str, str], words: str
) -> None:
    reply = authority.request("POST", "/login", data=raw, headers=headers)
    status, error, description = _error(reply)
    assert (status, error) == (400, "invalid_request")
    assert words in description


def test_form_field_over_8_kib_is_refused_by_name(authority: Authority) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "r" * 8193, "client_id": "shop-web"}
    status, error, description = _error(authority.token(form))
    assert (status, error) == (400, "invalid_request")
    assert "'refresh_token'" in description and "8192" in description


def test_form_field_of_8_kib_is_parsed(authority: Authority) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "r" * 8192, "client_id": "shop-web"}
    status, error, _ = _error(authority.token(form))
    assert (status, error) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("grant_type=client_credentials&client_id=a%00b&client_secret=x", "'client_id'"),
        ("grant_type=refresh_token&grant_type=refresh_token", "'grant_type' is repeated"),
        ("grant_type=%ZZ&&&=", "malformed"),
        ("grant_type=x&" + "&".join(f"p{i}=1" for i in range(70)), "malformed"),
    ],
)
def test_malformed_forms_are_400(authority: Authority, raw: str, words: str) -> None:
    status, error, description = _error(
        authority.request("POST", "/oauth/token", data=raw, headers=FORM)
    )
    assert (status, error) == (400, "invalid_request")
    assert words in description


def test_non_utf8_form_is_400(authority: Authority) -> None:
    reply = authority.request("POST", "/oauth/token", data=b"grant_type=\xff", headers=FORM)
    assert _error(reply)[:2] == (400, "invalid_request")


def test_form_endpoint_refuses_json(authority: Authority) -> None:
    reply = authority.request("POST", "/oauth/revoke", json={"token": "x"})
    status, error, description = _error(reply)
    assert (status, error) == (400, "invalid_request")
    assert "application/x-www-form-urlencoded" in description


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"a%00b:secret").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    ],
)
def test_malformed_basic_credentials_are_invalid_client(authority: Authority, header: str) -> None:
    reply = authority.request(
        "POST",
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": header},
    )
    status, error, description = _error(reply)
    assert (status, error, description) == (401, "invalid_client", "malformed Basic credentials")
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="jwtmesh"'


def test_declared_oversized_body_is_413(authority: Authority) -> None:
    cap = authority.settings.max_body_bytes
    reply = authority.request("POST", "/login", data=b"{" + b" " * cap + b"}", headers=JSON)
    status, error, description = _error(reply)
    assert (status, error) == (413, "invalid_request")
    assert str(cap) in description


def test_streamed_oversized_body_is_413(authority: Authority) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    reply = authority.request("POST", "/oauth/token", data=chunks(), headers=FORM)
    assert _error(reply)[:2] == (413, "invalid_request")


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("after=99999999999999999999999", "after"),
        ("after=9223372036854775808", "after"),
        ("after=-1", "after"),
        ("after=1.5", "after"),
        ("wait=nan", "wait"),
        ("wait=abc", "wait"),
    ],
)
def test_feed_query_errors_name_the_parameter(authority: Authority, query: str, name: str) -> None:
    reply = authority.request(
        "GET", f"/oauth/revocations?{query}", basic=authority.creds("orders-svc")
    )
    status, error, description = _error(reply)
    assert (status, error) == (400, "invalid_request")
    assert f"'{name}'" in description


def test_largest_feed_cursor_is_accepted(authority: Authority) -> None:
    reply = authority.request(
        "GET", f"/oauth/revocations?after={2**63 - 1}", basic=authority.creds("orders-svc")
    )
    assert reply.status == 200
    assert reply.json()["events"] == []


def test_openapi_describes_the_real_bodies(authority: Authority) -> None:
    doc = authority.request("GET", "/openapi.json").json()
    login = doc["paths"]["/login"]["post"]["requestBody"]["content"]["application/json"]
    token = doc["paths"]["/oauth/token"]["post"]["requestBody"]["content"]
    form = token["application/x-www-form-urlencoded"]["schema"]
    assert login["schema"]["properties"]["username"]["maxLength"] == 256
    assert login["schema"]["properties"]["password"]["maxLength"] == 1024
    assert form["required"] == ["grant_type"]
    assert form["properties"]["refresh_token"]["maxLength"] == 8192
    retry = doc["paths"]["/login"]["post"]["responses"]["429"]["headers"]["Retry-After"]
    assert retry["schema"]["type"] == "integer"
