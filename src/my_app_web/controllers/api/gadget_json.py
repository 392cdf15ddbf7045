"""How gadgets look in the API (GadgetJSON): an allow-list of the gadget's fields
with its owner's id (`user_id`); `price` is a decimal string ("120.50"); `secret` is write-only, never shown.

The models document the shapes (`response_model`); `show` and `index` build the same fields as
plain dicts and render them once (`JSONBody`), as ProductJSON does.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from my_app.pagination import Page
from my_app.shop import Gadget
from my_app_web.controllers.api.json_response import JSONBody
from my_app_web.controllers.api.user_json import ListMeta

GADGET_EXAMPLE: dict[str, JsonValue] = {
    "id": "3f2b8c1e-7a4d-4e2f-9b6a-1c0d2e3f4a5b",
    "name": "some name",
    "slug": "some name",
    "notes": "some text",
    "count": 42,
    "weight": 120.5,
    "price": "120.50",
    "active": True,
    "released_on": "2026-12-01",
    "opens_at": "14:00:00",
    "launched_at": "2026-12-01T14:00:00Z",
    "token": "7488a646-e31f-11e4-aace-600308960662",
    "specs": {"size": "large"},
    "tags": ["some name", "other name"],
    "sizes": [42, 43],
    "status": "draft",
    "category_id": "6a0f4f0e-2f7c-4bd5-9f3e-1c1a6c5b7e21",
    "user_id": "0b6f6a52-3bb4-4e0c-9d7e-0d6c1b1f0a11",
    "inserted_at": "2026-12-01T10:00:00Z",
    "updated_at": "2026-12-01T10:00:00Z",
}


class GadgetData(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": GADGET_EXAMPLE})

    id: uuid.UUID
    name: str
    slug: str
    notes: str
    count: int
    weight: float
    price: str = Field(description='A decimal string ("120.50")')
    active: bool
    released_on: datetime.date
    opens_at: datetime.time
    launched_at: datetime.datetime
    token: uuid.UUID
    specs: dict[str, JsonValue]
    tags: list[str]
    sizes: list[int]
    status: Literal["draft", "published", "archived"]
    category_id: uuid.UUID
    user_id: uuid.UUID = Field(description="Its owner: the user who created it")
    inserted_at: datetime.datetime
    updated_at: datetime.datetime


class GadgetResponse(BaseModel):
    data: GadgetData


class GadgetListResponse(BaseModel):
    data: list[GadgetData]
    meta: ListMeta


def data(gadget: Gadget) -> dict[str, Any]:
    """GadgetData's fields, in its order (`secret` left out: write-only)."""
    return {
        "id": gadget.id,
        "name": gadget.name,
        "slug": gadget.slug,
        "notes": gadget.notes,
        "count": gadget.count,
        "weight": gadget.weight,
        "price": str(gadget.price),
        "active": gadget.active,
        "released_on": gadget.released_on,
        "opens_at": gadget.opens_at,
        "launched_at": gadget.launched_at,
        "token": gadget.token,
        "specs": gadget.specs,
        "tags": gadget.tags,
        "sizes": gadget.sizes,
        "status": gadget.status,
        "category_id": gadget.category_id,
        "user_id": gadget.user_id,
        "inserted_at": gadget.inserted_at,
        "updated_at": gadget.updated_at,
    }


def show(gadget: Gadget, *, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONBody:
    """A GadgetResponse."""
    return JSONBody({"data": data(gadget)}, status_code=status_code, headers=headers)


def index(page: Page[Gadget]) -> JSONBody:
    """A GadgetListResponse."""
    return JSONBody(
        {
            "data": [data(gadget) for gadget in page.items],
            "meta": {"limit": page.limit, "next_cursor": page.next_cursor},
        }
    )
