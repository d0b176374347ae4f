"""The orders service: places orders and shows each user their own, in its own SQLite file.

Placing an order makes two outgoing calls, each with a token of its own:

- users ``GET /users/me`` with the caller's token exchanged for one addressed
  to users (RFC 8693; the ``act`` claim names orders), to get the profile;
- catalog ``POST /catalog/products/{id}/reserve`` with orders' own
  client-credentials token (audience catalog): only this service may reserve.

A user reads only their own orders; ``orders:read:any`` (admins) reads all.
Asking for an order that is not yours answers 403 ``forbidden`` whether or not
it exists, so the answer does not tell which order ids exist.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

from jwtmesh.guard import CurrentPrincipal, Principal, ServiceClient, ServiceResponse

from ._runtime import ApiError, ServiceConfig, guarded_app

__all__ = ["OrderRequest", "create_app"]

_SCHEMA = """
create table if not exists orders (
    id text primary key, owner text not null, product_id text not null, name text not null,
    quantity integer not null, unit_price_cents integer not null, ship_to text not null,
    created_at real not null
)"""
_COLUMNS = (
    "id",
    "owner",
    "product_id",
    "name",
    "quantity",
    "unit_price_cents",
    "ship_to",
    "created_at",
)
_INSERT = "insert into orders values (?, ?, ?, ?, ?, ?, ?, ?)"
_SELECT = (
    "select id, owner, product_id, name, quantity, unit_price_cents, ship_to, created_at"
    " from orders"
)


class OrderRequest(BaseModel):
    """What a user orders."""

    product_id: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    quantity: int = Field(ge=1, le=100)


class _OrderBook:
    """The orders table; used from the event loop thread only."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute(_SCHEMA)

    def add(self, order: dict[str, Any]) -> None:
        with self.db:
            self.db.execute(_INSERT, [order[c] for c in _COLUMNS])

    def find(self, order_id: str) -> dict[str, Any] | None:
        row = self.db.execute(_SELECT + " where id = ?", (order_id,)).fetchone()
        return _as_order(row) if row else None

    def list(self, owner: str | None) -> list[dict[str, Any]]:
        if owner is None:
            rows = self.db.execute(_SELECT + " order by created_at")
        else:
            rows = self.db.execute(_SELECT + " where owner = ? order by created_at", (owner,))
        return [_as_order(row) for row in rows]


def _as_order(row: tuple[Any, ...]) -> dict[str, Any]:
    order = dict(zip(_COLUMNS, row, strict=True))
    order["total_cents"] = order["quantity"] * order["unit_price_cents"]
    return order


def _bearer(request: Request) -> str:
    # The guard has already accepted this header; only the token itself is needed.
    return request.headers["authorization"].split(" ", 1)[1].strip()


def _upstream_error(service: str, response: ServiceResponse) -> ApiError:
    if response.status in (404, 409):
        answer = response.json()
        return ApiError(
            response.status, str(answer.get("error")), str(answer.get("error_description"))
        )
    return ApiError(502, "upstream_error", f"{service} answered HTTP {response.status}")


def create_app(config: ServiceConfig) -> FastAPI:
    """The orders service's FastAPI app, guarded."""
    book = _OrderBook(config.state_dir / "orders.sqlite3")
    tokens = config.token_source()
    catalog = ServiceClient(tokens, "catalog", base_url=config.upstreams["catalog"])
    users = ServiceClient(tokens, "users", base_url=config.upstreams["users"])

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        for closable in (catalog, users, tokens):
            await closable.close()
        book.db.close()

    app = guarded_app(config, "jwtmesh demo: orders", "/orders/whoami", lifespan)

    @app.post("/orders", status_code=201)
    async def place(
        body: OrderRequest, request: Request, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        profile = await users.get("/users/me", on_behalf_of=_bearer(request))
        if profile.status != 200:
            raise _upstream_error("users", profile)
        reserved = await catalog.post(
            f"/catalog/products/{body.product_id}/reserve", json={"quantity": body.quantity}
        )
        if reserved.status != 200:
            raise _upstream_error("catalog", reserved)
        item = reserved.json()
        order = {
            "id": "o-" + secrets.token_hex(6),
            "owner": principal.subject,
            "product_id": body.product_id,
            "name": item["name"],
            "quantity": body.quantity,
            "unit_price_cents": item["unit_price_cents"],
            "ship_to": profile.json()["display_name"],
            "created_at": time.time(),
        }
        book.add(order)
        return {
            **_as_order(tuple(order[c] for c in _COLUMNS)),
            "checked_with": {
                "users_actor": profile.json().get("actor"),
                "catalog_client": "client_credentials",
            },
        }

    @app.get("/orders")
    async def list_orders(principal: CurrentPrincipal) -> list[dict[str, Any]]:
        return book.list(None if principal.permits("orders:read:any") else principal.subject)

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
        order = book.find(order_id)
        if not principal.permits("orders:read:any") and not _owns(principal, order):
            raise ApiError(403, "forbidden", "this order is not yours")
        if order is None:
            raise ApiError(404, "not_found", "no such order")
        return order

    return app


def _owns(principal: Principal, order: dict[str, Any] | None) -> bool:
    return order is not None and order["owner"] == principal.subject
