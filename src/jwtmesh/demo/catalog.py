"""The catalog service: products, prices and stock, kept in memory.

Everyone logged in may browse (``catalog:read``); admins manage products
(``catalog:write``); only the orders service reserves stock
(``catalog:reserve``, granted to its client role).  The route rules are in
the policy file; the handlers re-check writes with ``require``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from jwtmesh.guard import Principal, require

from ._runtime import ApiError, ServiceConfig, guarded_app

__all__ = ["Product", "create_app"]

_SEED = (
    ("p1", "Espresso beans, 1 kg", 2490, 40),
    ("p2", "Hand grinder", 6900, 5),
    ("p3", "Milk jug", 1450, 12),
)


CatalogWriter = Annotated[Principal, Depends(require("catalog:write"))]
"""A caller allowed to change the catalog (checked again behind the middleware's rule)."""


class Product(BaseModel):
    """A product of the catalog; prices are integer cents."""

    id: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    name: str = Field(min_length=1, max_length=100)
    price_cents: int = Field(ge=0)
    stock: int = Field(ge=0)


class ProductChange(BaseModel):
    """Fields an admin may change."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    price_cents: int | None = Field(default=None, ge=0)
    stock: int | None = Field(default=None, ge=0)


class Reservation(BaseModel):
    """A request to take ``quantity`` items out of stock."""

    quantity: int = Field(ge=1, le=100)


class _Catalog:
    def __init__(self) -> None:
        self.products = {
            p[0]: Product(id=p[0], name=p[1], price_cents=p[2], stock=p[3]) for p in _SEED
        }
        self.lock = asyncio.Lock()

    def get(self, product_id: str) -> Product:
        product = self.products.get(product_id)
        if product is None:
            raise ApiError(404, "not_found", "no such product")
        return product


def create_app(config: ServiceConfig) -> FastAPI:
    """The catalog's FastAPI app, guarded."""
    app = guarded_app(config, "jwtmesh demo: catalog", "/catalog/whoami")
    catalog = _Catalog()

    @app.get("/catalog/products")
    async def list_products() -> list[Product]:
        return list(catalog.products.values())

    @app.get("/catalog/products/{product_id}")
    async def get_product(product_id: str) -> Product:
        return catalog.get(product_id)

    @app.post("/catalog/products", status_code=201)
    async def add_product(product: Product, _admin: CatalogWriter) -> Product:
        if product.id in catalog.products:
            raise ApiError(409, "conflict", "this product id is taken")
        catalog.products[product.id] = product
        return product

    @app.patch("/catalog/products/{product_id}")
    async def change_product(
        product_id: str, change: ProductChange, _admin: CatalogWriter
    ) -> Product:
        updated = catalog.get(product_id).model_copy(update=change.model_dump(exclude_none=True))
        catalog.products[product_id] = updated
        return updated

    @app.post("/catalog/products/{product_id}/reserve")
    async def reserve(product_id: str, body: Reservation) -> dict[str, Any]:
        async with catalog.lock:
            product = catalog.get(product_id)
            if product.stock < body.quantity:
                raise ApiError(409, "out_of_stock", "not enough stock")
            catalog.products[product_id] = product.model_copy(
                update={"stock": product.stock - body.quantity}
            )
        return {
            "product_id": product_id,
            "quantity": body.quantity,
            "unit_price_cents": product.price_cents,
            "name": product.name,
        }

    return app
