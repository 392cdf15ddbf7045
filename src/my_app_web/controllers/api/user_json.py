"""How users look in the API (the seed's UserJSON): an allow-list, never password fields."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from my_app.accounts import User
from my_app.accounts.user import Role
from my_app.pagination import Page

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


def show(user: User) -> UserResponse:
    return UserResponse(data=UserData.model_validate(user))


def index(page: Page[User]) -> UserListResponse:
    return UserListResponse(
        data=[UserData.model_validate(user) for user in page.items],
        meta=ListMeta(limit=page.limit, next_cursor=page.next_cursor),
    )
