"""The categories API (CategoryController, `phx.gen.json`): public reads, admin writes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, Field

from my_app import catalog
from my_app_web.controllers.api import category_json, errors
from my_app_web.controllers.api.params import Text
from my_app_web.plugs.auth import ApiScope, OptionalApiScope

router = APIRouter(prefix="/categories", tags=["catalog"], responses=errors.SERVER_ERROR)


class CategoryFields(BaseModel):
    name: Text | None = Field(default=None, examples=["Tea"])
    slug: Text | None = Field(default=None, examples=["tea"])
    description: Text | None = Field(default=None, examples=["Leaves and blends"])


class CategoryParams(BaseModel):
    category: CategoryFields


def _attrs(fields: BaseModel) -> dict[str, Any]:
    return fields.model_dump(exclude_unset=True)


async def _category(id: str, scope: OptionalApiScope) -> catalog.Category:  # noqa: A002 - the route's name
    return await catalog.get_category_or_404(scope, id)


async def _category_to_change(id: str, scope: ApiScope) -> catalog.Category:  # noqa: A002 - the route's name
    """The category a write names: the bearer token first (401), then the category (404); the context says 403."""
    return await catalog.get_category_or_404(scope, id)


PathCategory = Annotated[catalog.Category, Depends(_category)]
ChangedCategory = Annotated[catalog.Category, Depends(_category_to_change)]
_WRITE: errors.Responses = {
    **errors.BAD_BODY,
    **errors.UNAUTHORIZED,
    **errors.FORBIDDEN,
    **errors.NOT_FOUND,
    **errors.UNPROCESSABLE,
}


@router.get(
    "",
    response_model=category_json.CategoryListResponse,
    responses=errors.UNAUTHORIZED,
    summary="List every category, by name (public)",
)
async def index(scope: OptionalApiScope) -> category_json.CategoryListResponse:
    return category_json.index(await catalog.list_categories(scope))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=category_json.CategoryResponse,
    responses={**errors.BAD_BODY, **errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.UNPROCESSABLE},
    summary="Create a category (admins)",
)
async def create(params: CategoryParams, scope: ApiScope, response: Response) -> category_json.CategoryResponse:
    category = await catalog.create_category(scope, _attrs(params.category))
    response.headers["location"] = f"/api/categories/{category.id}"
    return category_json.show(category)


@router.get(
    "/{id}",
    response_model=category_json.CategoryResponse,
    responses={**errors.UNAUTHORIZED, **errors.NOT_FOUND},
    summary="Show a category (public)",
)
async def show(category: PathCategory) -> category_json.CategoryResponse:
    return category_json.show(category)


@router.patch("/{id}", response_model=category_json.CategoryResponse, responses=_WRITE, summary="Update (admins)")
async def update(scope: ApiScope, category: ChangedCategory, params: CategoryParams) -> category_json.CategoryResponse:
    return category_json.show(await catalog.update_category(scope, category, _attrs(params.category)))


@router.put("/{id}", response_model=category_json.CategoryResponse, responses=_WRITE, summary="Update (admins)")
async def replace(scope: ApiScope, category: ChangedCategory, params: CategoryParams) -> category_json.CategoryResponse:
    return category_json.show(await catalog.update_category(scope, category, _attrs(params.category)))


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.NOT_FOUND, **errors.UNPROCESSABLE},
    summary="Delete a category without products (admins); one with products is 422",
)
async def delete(scope: ApiScope, category: ChangedCategory) -> Response:
    await catalog.delete_category(scope, category)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
