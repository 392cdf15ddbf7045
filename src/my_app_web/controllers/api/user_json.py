"""How users look in the API (the seed's UserJSON): an allow-list, never password fields.

The models document the shapes (`response_model`); `show` and `index` build the same fields as
plain dicts and render them once (`JSONBody`), as product_json does: `GET /api/users/me` runs on
every client's start, and validating a model of what was just read costs more than the rendering.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from my_app.accounts import User
from my_app.accounts.user import Role
from my_app.pagination import Page
from my_app_web.controllers.api.json_response import JSONBody, page_body

USER_EXAMPLE: dict[str, JsonValue] = {
    "id": "0b6f6a52-3bb4-4e0c-9d7e-0d6c1b1f0a11",
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "role": "user",
    "confirmed_at": "2026-11-27T10:05:00Z",  # not None: the OpenAPI document drops null example values
    "inserted_at": "2026-11-27T10:00:00Z",
    "updated_at": "2026-11-27T10:00:00Z",
}


class UserData(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": USER_EXAMPLE})

    id: uuid.UUID
    email: str
    name: str
    role: Role
    confirmed_at: datetime | None
    inserted_at: datetime
    updated_at: datetime


class UserResponse(BaseModel):
    data: UserData


class ListMeta(BaseModel):
    limit: int = Field(examples=[20])
    next_cursor: str | None = Field(description="Pass as `?cursor=` for the next page; null on the last.")


class UserListResponse(BaseModel):
    data: list[UserData]
    meta: ListMeta


def data(user: User) -> dict[str, Any]:
    """UserData's fields, in its order."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "confirmed_at": user.confirmed_at,
        "inserted_at": user.inserted_at,
        "updated_at": user.updated_at,
    }


def show(user: User, *, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONBody:
    """A UserResponse."""
    return JSONBody({"data": data(user)}, status_code=status_code, headers=headers)


def index(page: Page[User]) -> JSONBody:
    """A UserListResponse."""
    return page_body(page, [data(user) for user in page.items])
