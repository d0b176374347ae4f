"""The scripted scenario: every role, every rule, every refusal, over real HTTP.

Each step gives a :class:`Row` (who, call, expected, got).  An outcome reads
``"<status> <error> (<code>)"`` for a refusal (``401 invalid_token (expired)``)
and ``"<status> <what was checked>"`` for a success; a row passes when ``got``
equals ``expected``.

The expired token is a real one: the scenario logs alice in through an
offline instance of the authority (same database, same key ring, public API
only) whose access-token lifetime is one second, and uses the token once it
is past that second and the guards' leeway.  Nothing is forged for it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from jwtmesh.authority import build_authority

from ._system import DemoSystem

__all__ = ["Row", "run_scenario"]

_CODE = re.compile(r"^([a-z_]+): ")
_REVOCATION_WAIT = 5.0
_INACTIVE_IN_INTROSPECTION = ("bad_signature", "wrong_audience", "revoked")


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    who: str
    call: str
    expected: str
    got: str

    @property
    def ok(self) -> bool:
        """True when the call went as expected."""
        return self.got == self.expected


@dataclass
class _Session:
    access: str
    refresh: str


def _refusal(status: int, body: Any) -> str:
    if not isinstance(body, dict):
        return f"{status}"
    error = str(body.get("error", ""))
    match = _CODE.match(str(body.get("error_description", "")))
    code = match.group(1) if match and match.group(1) != error else None
    return f"{status} {error}" + (f" ({code})" if code else "")


def _outcome(status: int, body: Any, check: Callable[[Any], str] | None) -> str:
    if status >= 400:
        return _refusal(status, body)
    if check is None:
        return f"{status}"
    try:
        return f"{status} {check(body)}"
    except (AttributeError, TypeError, KeyError):
        return f"{status} unexpected body"


def tampered(token: str, **claims: Any) -> str:
    """``token`` with some payload claims changed and the signature left as it was."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    raw = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{raw}.{signature}"


def _exp(token: str) -> float:
    payload = token.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


class _Shop:
    """The scenario's client: talks to the authority and to the gateway."""

    def __init__(self, demo: DemoSystem, http: aiohttp.ClientSession) -> None:
        self.demo = demo
        self.http = http
        self.gateway = demo.services["gateway"].url
        self.sessions: dict[str, _Session] = {}
        self.rows: list[Row] = []
        self.orders: dict[str, str] = {}

    async def send(
        self, method: str, url: str, token: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, url, headers=headers, **kwargs) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text) if text else None
            except ValueError:
                return response.status, text

    async def step(
        self,
        who: str,
        call: str,
        expected: str,
        request: Awaitable[tuple[int, Any]],
        check: Callable[[Any], str] | None = None,
    ) -> Any:
        status, body = await request
        self.rows.append(Row(who, call, expected, _outcome(status, body, check)))
        return body

    def shop(
        self, method: str, path: str, token: str | None, **kw: Any
    ) -> Awaitable[tuple[int, Any]]:
        return self.send(method, self.gateway + path, token, **kw)

    def invalid(self, code: str) -> str:
        """The expected refusal; RFC 7662 introspection only says a token is not active."""
        if self.demo.mode == "introspection" and code in _INACTIVE_IN_INTROSPECTION:
            code = "inactive"
        return f"401 invalid_token ({code})"

    def token(self, who: str) -> str:
        session = self.sessions.get(who)
        return session.access if session else ""

    # -- the steps -----------------------------------------------------------

    async def login_everyone(self) -> None:
        for account in self.demo.accounts:
            body = await self.step(
                account.username,
                "POST /login",
                "200 tokens issued",
                self.send(
                    "POST",
                    self.demo.login_url,
                    json={"username": account.username, "password": account.password},
                ),
                lambda b: (
                    "tokens issued" if "access_token" in b and "refresh_token" in b else "no tokens"
                ),
            )
            if isinstance(body, dict) and "access_token" in body:
                self.sessions[account.username] = _Session(
                    body["access_token"], body["refresh_token"]
                )

    async def browse(self) -> None:
        await self.step(
            "anonymous",
            "GET /catalog/products",
            "401 unauthorized (missing_token)",
            self.shop("GET", "/catalog/products", None),
        )
        for who in ("guest", "alice"):
            await self.step(
                who,
                "GET /catalog/products",
                "200 products listed",
                self.shop("GET", "/catalog/products", self.token(who)),
                _listed,
            )

    async def order(self) -> None:
        for who, product in (("alice", "p1"), ("bob", "p3")):
            body = await self.step(
                who,
                f"POST /orders ({product})",
                "201 placed, act=orders",
                self.shop(
                    "POST", "/orders", self.token(who), json={"product_id": product, "quantity": 1}
                ),
                functools.partial(_placed, who=who),
            )
            if isinstance(body, dict) and "id" in body:
                self.orders[who] = body["id"]
        await self.step(
            "guest",
            "POST /orders",
            "403 insufficient_scope",
            self.shop(
                "POST", "/orders", self.token("guest"), json={"product_id": "p1", "quantity": 1}
            ),
        )

    async def read_orders(self) -> None:
        await self.step(
            "alice",
            "GET /orders",
            "200 only her own",
            self.shop("GET", "/orders", self.token("alice")),
            lambda b: _owners(b, {"alice"}, "only her own"),
        )
        await self.step(
            "alice",
            "GET /orders/<alice's>",
            "200 her order",
            self.shop("GET", f"/orders/{self.orders.get('alice')}", self.token("alice")),
            lambda b: "her order" if b.get("owner") == "alice" else "someone's order",
        )
        await self.step(
            "alice",
            "GET /orders/<bob's>",
            "403 forbidden",
            self.shop("GET", f"/orders/{self.orders.get('bob')}", self.token("alice")),
        )
        await self.step(
            "admin",
            "GET /orders",
            "200 every order",
            self.shop("GET", "/orders", self.token("admin")),
            lambda b: _owners(b, {"alice", "bob"}, "every order"),
        )
        await self.step(
            "guest",
            "GET /orders",
            "403 insufficient_scope",
            self.shop("GET", "/orders", self.token("guest")),
        )

    async def manage_catalog(self) -> None:
        product = {"id": "p4", "name": "Tamper", "price_cents": 3200, "stock": 8}
        await self.step(
            "admin",
            "POST /catalog/products",
            "201 product added",
            self.shop("POST", "/catalog/products", self.token("admin"), json=product),
            lambda b: "product added" if b.get("id") == "p4" else "wrong product",
        )
        await self.step(
            "alice",
            "POST /catalog/products",
            "403 insufficient_scope",
            self.shop(
                "POST", "/catalog/products", self.token("alice"), json={**product, "id": "p5"}
            ),
        )

    async def bad_tokens(self, expired: str) -> None:
        forged = tampered(self.token("alice"), roles=["admin"])
        await self.step(
            "alice",
            "GET /orders (payload edited: roles=admin)",
            self.invalid("bad_signature"),
            self.shop("GET", "/orders", forged),
        )
        status, body = await self.send(
            "POST",
            self.demo.login_url,
            json={
                "username": "alice",
                "password": self.demo.account("alice").password,
                "audience": "users",
            },
        )
        other = body.get("access_token", "") if status == 200 else ""
        await self.step(
            "alice",
            "GET /catalog/products (token for aud=users)",
            self.invalid("wrong_audience"),
            self.shop("GET", "/catalog/products", other),
        )
        await asyncio.sleep(max(0.0, _exp(expired) + self.demo.topology.leeway + 0.2 - time.time()))
        await self.step(
            "alice",
            "GET /catalog/products (expired token)",
            self.invalid("expired"),
            self.shop("GET", "/catalog/products", expired),
        )

    async def refresh_twice(self) -> None:
        old = self.sessions["alice"].refresh if "alice" in self.sessions else ""
        body = await self.step(
            "alice",
            "refresh (POST /oauth/token)",
            "200 rotated",
            self._refresh(old),
            lambda b: "rotated" if b.get("refresh_token") not in (None, old) else "not rotated",
        )
        await self.step(
            "alice",
            "refresh again with the same token",
            "400 invalid_grant",
            self._refresh(old),
        )
        newest = body.get("refresh_token", "") if isinstance(body, dict) else ""
        await self.step(
            "alice",
            "refresh with the rotated token",
            "400 invalid_grant",
            self._refresh(newest),
        )

    def _refresh(self, token: str) -> Awaitable[tuple[int, Any]]:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": self.demo.authority_settings.default_client_id,
        }
        return self.send("POST", self.demo.token_url, data=form)

    async def logout(self) -> None:
        token = self.token("bob")
        await self.step(
            "bob",
            "POST /logout",
            "204",
            self.send("POST", f"{self.demo.issuer}/logout", token, json={}),
        )
        await self.step(
            "bob",
            "GET /orders after logout",
            self.invalid("revoked"),
            self._until_refused("/orders", token),
        )

    async def _until_refused(self, path: str, token: str) -> tuple[int, Any]:
        # The revocation reaches the guards through the authority's feed: allow it a moment.
        deadline = time.monotonic() + _REVOCATION_WAIT
        while True:
            status, body = await self.send("GET", self.gateway + path, token)
            if status == 401 or time.monotonic() > deadline:
                return status, body
            await asyncio.sleep(0.05)


def _listed(body: Any) -> str:
    return "products listed" if isinstance(body, list) and body else "no products"


def _placed(body: Any, who: str) -> str:
    if body.get("owner") != who:
        return "placed for someone else"
    actor = body.get("checked_with", {}).get("users_actor")
    return "placed, act=orders" if actor == "orders" else f"placed, act={actor}"


def _owners(body: Any, expected: set[str], label: str) -> str:
    owners = {order.get("owner") for order in body} if isinstance(body, list) else set()
    return label if owners == expected else f"owners {sorted(map(str, owners))}"


def _short_lived_token(demo: DemoSystem, username: str) -> str:
    """Log in through an offline authority whose access tokens live one second."""
    settings = dataclasses.replace(demo.authority_settings, access_ttl=1)
    authority = build_authority(settings)
    try:
        return authority.login(username, demo.account(username).password).access_token
    finally:
        authority.store.close()


async def _scenario(demo: DemoSystem) -> list[Row]:
    expired = await asyncio.to_thread(_short_lived_token, demo, "alice")
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        shop = _Shop(demo, http)
        await shop.login_everyone()
        await shop.browse()
        await shop.order()
        await shop.read_orders()
        await shop.manage_catalog()
        await shop.bad_tokens(expired)
        await shop.refresh_twice()
        await shop.logout()
    return shop.rows


def run_scenario(demo: DemoSystem) -> list[Row]:
    """Run every step against a started :class:`DemoSystem`; return the rows in order."""
    return asyncio.run(_scenario(demo))
