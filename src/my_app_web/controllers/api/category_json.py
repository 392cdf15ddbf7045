"""How categories look in the API (CategoryJSON)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, JsonValue

from my_app.catalog import Category

CATEGORY_EXAMPLE: dict[str, JsonValue] = {
    "id": "6a0f4f0e-2f7c-4bd5-9f3e-1c1a6c5b7e21",
    "name": "Tea",
    "slug": "tea",
    "description": "Leaves and blends",
    "inserted_at": "2026-12-01T10:00:00Z",
    "updated_at": "2026-12-01T10:00:00Z",
}


class CategoryData(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": CATEGORY_EXAMPLE})

    id: uuid.UUID
    name: str
    slug: str
    description: str | None
    inserted_at: datetime
    updated_at: datetime


class CategoryResponse(BaseModel):
    data: CategoryData


class CategoryListResponse(BaseModel):
    data: list[CategoryData]


def show(category: Category) -> CategoryResponse:
    return CategoryResponse(data=CategoryData.model_validate(category))


def index(categories: list[Category]) -> CategoryListResponse:
    return CategoryListResponse(data=[CategoryData.model_validate(category) for category in categories])
