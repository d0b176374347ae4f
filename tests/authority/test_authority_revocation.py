"""Revocation (RFC 7009), introspection (RFC 7662), logout and the revocation feed."""

from __future__ import annotations

import threading
import time

from .helpers import Authority, Reply


def _introspect(authority: Authority, token: str, client: str = "orders-svc") -> Reply:
    return authority.request(
        "POST", "/oauth/introspect", data={"token": token}, basic=authority.creds(client)
    )


def _revoke(authority: Authority, form: dict[str, str], client: str | None = None) -> Reply:
    basic = authority.creds(client) if client else None
    return authority.request("POST", "/oauth/revoke", data=form, basic=basic)


def _cursor(authority: Authority) -> int:
    reply = authority.request(
        "GET", "/oauth/revocations?after=0", basic=authority.creds("orders-svc")
    )
    cursor: int = reply.json()["cursor"]
    return cursor


def _service_token(authority: Authority, client: str = "orders-svc") -> str:
    reply = authority.token({"grant_type": "client_credentials"}, basic=authority.creds(client))
    token: str = reply.json()["access_token"]
    return token


def test_introspect_active_access_token(authority: Authority) -> None:
    token = authority.login()["access_token"]
    reply = _introspect(authority, token)
    assert reply.status == 200 and reply.headers["Cache-Control"] == "no-store"
    body = reply.json()
    assert body["active"] is True and body["sub"] == "alice"
    assert body["client_id"] == "shop-web" and body["roles"] == ["customer"]


def test_introspect_garbage_is_inactive(authority: Authority) -> None:
    assert _introspect(authority, "not-a-token").json() == {"active": False}
    assert _introspect(authority, "a.b.c").json() == {"active": False}


def test_introspect_needs_a_confidential_client(authority: Authority) -> None:
    token = authority.login()["access_token"]
    public = authority.request(
        "POST", "/oauth/introspect", data={"token": token, "client_id": "shop-web"}
    )
    assert public.status == 401 and public.json()["error"] == "invalid_client"
    anonymous = authority.request("POST", "/oauth/introspect", data={"token": token})
    assert anonymous.status == 401 and anonymous.json()["error"] == "invalid_client"


def test_introspect_refresh_token_only_for_owner_or_admin(authority: Authority) -> None:
    refresh = authority.login()["refresh_token"]
    assert _introspect(authority, refresh).json() == {"active": False}
    body = _introspect(authority, refresh, client="admin-cli").json()
    assert body["active"] is True and body["token_type"] == "refresh_token"
    assert body["sub"] == "alice" and body["client_id"] == "shop-web"


def test_revoke_access_token_reaches_introspection_and_feed(authority: Authority) -> None:
    cursor = _cursor(authority)
    token = _service_token(authority)
    jti = authority.decode(token, "users")["jti"]
    reply = _revoke(authority, {"token": token, "token_type_hint": "access_token"}, "orders-svc")
    assert reply.status == 200
    assert _introspect(authority, token).json() == {"active": False}
    feed = authority.request(
        "GET", f"/oauth/revocations?after={cursor}", basic=authority.creds("catalog-svc")
    ).json()
    assert [e["jti"] for e in feed["events"]] == [jti] and feed["cursor"] > cursor


def test_revoke_token_of_another_client_is_refused(authority: Authority) -> None:
    token = _service_token(authority, "catalog-svc")
    reply = _revoke(authority, {"token": token}, "orders-svc")
    assert reply.status == 400
    assert reply.json()["error"] == "unauthorized_client"
    assert _introspect(authority, token).json()["active"] is True


def test_admin_client_revokes_any_access_token(authority: Authority) -> None:
    token = authority.login()["access_token"]
    assert _revoke(authority, {"token": token}, "admin-cli").status == 200
    assert _introspect(authority, token).json() == {"active": False}


def test_revoke_unknown_token_is_ok(authority: Authority) -> None:
    reply = _revoke(authority, {"token": "never-issued"}, "orders-svc")
    assert reply.status == 200


def test_revoke_needs_client_authentication(authority: Authority) -> None:
    reply = _revoke(authority, {"token": "x", "client_id": "orders-svc", "client_secret": "wrong"})
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"


def test_public_client_revokes_its_refresh_token(authority: Authority) -> None:
    refresh = authority.login()["refresh_token"]
    reply = _revoke(
        authority, {"token": refresh, "token_type_hint": "refresh_token", "client_id": "shop-web"}
    )
    assert reply.status == 200
    again = authority.token(
        {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "shop-web"}
    )
    assert again.status == 400 and again.json()["error"] == "invalid_grant"


def test_logout_revokes_family_and_access_token(authority: Authority) -> None:
    session = authority.login()
    reply = authority.request(
        "POST",
        "/logout",
        json={"refresh_token": session["refresh_token"]},
        headers={"Authorization": f"Bearer {session['access_token']}"},
    )
    assert reply.status == 204
    assert _introspect(authority, session["access_token"]).json() == {"active": False}
    refresh = authority.token(
        {
            "grant_type": "refresh_token",
            "client_id": "shop-web",
            "refresh_token": session["refresh_token"],
        }
    )
    assert refresh.status == 400 and refresh.json()["error"] == "invalid_grant"
    twice = authority.request(
        "POST", "/logout", headers={"Authorization": f"Bearer {session['access_token']}"}
    )
    assert twice.status == 401 and twice.json()["error"] == "invalid_token"
    # The same RFC 6750 challenge as every guard: realm, error and "code: reason".
    assert twice.headers["WWW-Authenticate"] == (
        'Bearer realm="jwtmesh", error="invalid_token", '
        'error_description="revoked: the access token was rejected"'
    )
    garbage = authority.request("POST", "/logout", headers={"Authorization": "Bearer a.b.c"})
    assert garbage.status == 401
    assert garbage.json()["error_description"].startswith("malformed: ")


def test_logout_without_bearer_is_401(authority: Authority) -> None:
    reply = authority.request("POST", "/logout", json={})
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_request"
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_feed_long_poll_wakes_on_revocation(authority: Authority) -> None:
    cursor = _cursor(authority)
    token = _service_token(authority)
    answers: list[tuple[float, Reply]] = []

    def poll() -> None:
        started = time.monotonic()
        reply = authority.request(
            "GET",
            f"/oauth/revocations?after={cursor}&wait=20",
            basic=authority.creds("catalog-svc"),
            timeout=30,
        )
        answers.append((time.monotonic() - started, reply))

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    assert _revoke(authority, {"token": token}, "orders-svc").status == 200
    poller.join(25)
    elapsed, reply = answers[0]
    assert reply.status == 200 and elapsed < 5
    assert len(reply.json()["events"]) == 1 and reply.json()["cursor"] > cursor


def test_feed_returns_after_wait_when_nothing_happens(authority: Authority) -> None:
    cursor = _cursor(authority)
    started = time.monotonic()
    reply = authority.request(
        "GET", f"/oauth/revocations?after={cursor}&wait=1", basic=authority.creds("orders-svc")
    )
    elapsed = time.monotonic() - started
    assert reply.status == 200 and 0.9 < elapsed < 4
    assert reply.json() == {"cursor": cursor, "events": []}


def test_feed_needs_client_authentication(authority: Authority) -> None:
    anonymous = authority.request("GET", "/oauth/revocations?after=0")
    assert anonymous.status == 401 and anonymous.json()["error"] == "invalid_client"
    wrong = authority.request("GET", "/oauth/revocations", basic=("orders-svc", "nope"))
    assert wrong.status == 401 and wrong.json()["error"] == "invalid_client"


def test_feed_rejects_bad_cursor(authority: Authority) -> None:
    for query in ("after=abc", "after=-1", "wait=soon", "wait=nan"):
        reply = authority.request(
            "GET", f"/oauth/revocations?{query}", basic=authority.creds("orders-svc")
        )
        assert reply.status == 400, query
        assert reply.json()["error"] == "invalid_request"
