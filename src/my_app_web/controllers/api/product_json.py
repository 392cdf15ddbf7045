"""How products look in the API (ProductJSON): `price` is a decimal string ("19.99"), and the
product's category comes along (loaded in the same query as the product).

The models document the shapes (`response_model`); `show` and `index` build the same fields as
plain dicts and render them once (`JSONBody`): no second validation of what was just built here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from my_app.catalog import Product
from my_app.pagination import Page
from my_app_web.controllers.api.json_response import JSONBody, page_body
from my_app_web.controllers.api.user_json import ListMeta

PRODUCT_EXAMPLE: dict[str, JsonValue] = {
    "id": "0c1d8a4e-9b5f-4b8e-8f62-3d1f2a7c9e10",
    "name": "Green tea",
    "description": "Sencha from Shizuoka",
    "price": "4.50",
    "sku": "TEA-GREEN-100",
    "stock": 12,
    "category_id": "6a0f4f0e-2f7c-4bd5-9f3e-1c1a6c5b7e21",
    "category": {"id": "6a0f4f0e-2f7c-4bd5-9f3e-1c1a6c5b7e21", "name": "Tea", "slug": "tea"},
    "inserted_at": "2026-12-01T10:00:00Z",
    "updated_at": "2026-12-01T10:00:00Z",
}


class ProductCategory(BaseModel):
    id: uuid.UUID
    name: str
    slug: str


class ProductData(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": PRODUCT_EXAMPLE})

    id: uuid.UUID
    name: str
    description: str | None
    price: str = Field(pattern=r"^\d+\.\d{2}$", description="A decimal string with two places")
    sku: str
    stock: int
    category_id: uuid.UUID
    category: ProductCategory
    inserted_at: datetime
    updated_at: datetime


class ProductResponse(BaseModel):
    data: ProductData


class ProductListResponse(BaseModel):
    data: list[ProductData]
    meta: ListMeta


def data(product: Product) -> dict[str, Any]:
    """ProductData's fields, in its order."""
    category = product.category
    return {
        "id": product.id,
        "name": product.name,
        "description": product.description,
        "price": format(product.price, ".2f"),
        "sku": product.sku,
        "stock": product.stock,
        "category_id": product.category_id,
        "category": {"id": category.id, "name": category.name, "slug": category.slug},
        "inserted_at": product.inserted_at,
        "updated_at": product.updated_at,
    }


def show(product: Product, *, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONBody:
    """A ProductResponse."""
    return JSONBody({"data": data(product)}, status_code=status_code, headers=headers)


def index(page: Page[Product]) -> JSONBody:
    """A ProductListResponse."""
    return page_body(page, [data(product) for product in page.items])
