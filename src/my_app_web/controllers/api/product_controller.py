"""The products API (ProductController, `phx.gen.json`): public reads with filters, admin writes, and the
admins' CSV export of the whole catalog (streamed: `GET /api/products/export.csv`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field, StrictFloat, StrictInt

from my_app import catalog
from my_app.catalog import Sort
from my_app_web import product_csv
from my_app_web.controllers.api import errors, product_json
from my_app_web.controllers.api.json_response import JSONBody
from my_app_web.controllers.api.params import Text
from my_app_web.plugs.auth import ApiScope, OptionalApiScope

router = APIRouter(prefix="/products", tags=["catalog"], responses=errors.SERVER_ERROR)


class ProductFields(BaseModel):
    name: Text | None = Field(default=None, examples=["Green tea"])
    description: Text | None = Field(default=None, examples=["Sencha from Shizuoka"])
    price: Text | StrictInt | StrictFloat | None = Field(
        default=None, examples=["4.50"], description='A decimal string ("4.50"; a JSON number is taken too)'
    )
    sku: Text | None = Field(default=None, examples=["TEA-GREEN-100"])
    stock: StrictInt | None = Field(default=None, examples=[12])
    category_id: Text | None = Field(default=None, examples=["6a0f4f0e-2f7c-4bd5-9f3e-1c1a6c5b7e21"])


class ProductParams(BaseModel):
    product: ProductFields


def _attrs(fields: BaseModel) -> dict[str, Any]:
    return fields.model_dump(exclude_unset=True)


async def _product(id: str, scope: OptionalApiScope) -> catalog.Product:  # noqa: A002 - the route's name
    return await catalog.get_product_or_404(scope, id)


async def _product_to_change(id: str, scope: ApiScope) -> catalog.Product:  # noqa: A002 - the route's name
    """The product a write names: the bearer token first (401), then the product (404); the context says 403."""
    return await catalog.get_product_or_404(scope, id)


PathProduct = Annotated[catalog.Product, Depends(_product)]
ChangedProduct = Annotated[catalog.Product, Depends(_product_to_change)]
_WRITE: errors.Responses = {
    **errors.BAD_BODY,
    **errors.UNAUTHORIZED,
    **errors.FORBIDDEN,
    **errors.NOT_FOUND,
    **errors.UNPROCESSABLE,
}


@router.get(
    "",
    response_model=product_json.ProductListResponse,
    responses={**errors.BAD_REQUEST, **errors.UNAUTHORIZED, **errors.UNPROCESSABLE},
    summary="List products (public): filter, search, sort, page",
    description="Pages by keyset: pass `meta.next_cursor` as `cursor` (with the same `sort` and filters) for the"
    " next page; pages never repeat or skip products while others are added. An invalid `category_id`,"
    " price or cursor is 422 with the field's error.",
)
async def index(
    scope: OptionalApiScope,
    category_id: Annotated[str | None, Query(description="Only products of this category (its id)")] = None,
    min_price: Annotated[str | None, Query(description='Lowest price, inclusive ("5" or "4.99")')] = None,
    max_price: Annotated[str | None, Query(description="Highest price, inclusive")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=catalog.QUERY_MAX_LENGTH,
            description='Full-text search in name and description (web-search syntax: `tea -black "green tea"`)',
        ),
    ] = None,
    sort: Annotated[Sort, Query(description="`newest` first (default), `oldest`, `price_asc`, `price_desc`")] = (
        "newest"
    ),
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="`meta.next_cursor` of the previous page")] = None,
) -> JSONBody:
    filters = {
        "category_id": category_id,
        "min_price": min_price,
        "max_price": max_price,
        "q": q,
        "sort": sort,
        "limit": limit,
        "cursor": cursor,
    }
    return product_json.index(await catalog.list_products(scope, filters))


# Before "/{id}", which would otherwise take "export.csv" for a product id (and answer 404).
@router.get(
    "/export.csv",
    # A plain Response documents no JSON body for the 200 and keeps the errors under application/json.
    response_class=Response,
    responses={
        200: {
            "description": "Every product, oldest first: a header row, then one row per product (RFC 4180)",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": product_csv.EXAMPLE}},
        },
        **errors.UNAUTHORIZED,
        **errors.FORBIDDEN,
    },
    summary="Export every product as CSV (admins)",
    description="Streamed from a server-side cursor in batches: the download starts at once and the"
    " server's memory stays flat however large the catalog is. Columns: id, name, sku, category (its"
    " slug), price (a decimal string), stock, inserted_at, updated_at.",
)
async def export(scope: ApiScope) -> product_csv.CSVResponse:
    return product_csv.download(catalog.stream_products(scope))  # 403 here, before the response starts


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=product_json.ProductResponse,
    responses={**errors.BAD_BODY, **errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.UNPROCESSABLE},
    summary="Create a product (admins)",
)
async def create(params: ProductParams, scope: ApiScope) -> JSONBody:
    product = await catalog.create_product(scope, _attrs(params.product))
    location = f"/api/products/{product.id}"
    return product_json.show(product, status_code=status.HTTP_201_CREATED, headers={"location": location})


@router.get(
    "/{id}",
    response_model=product_json.ProductResponse,
    responses={**errors.UNAUTHORIZED, **errors.NOT_FOUND},
    summary="Show a product with its category (public)",
)
async def show(product: PathProduct) -> JSONBody:
    return product_json.show(product)


@router.patch("/{id}", response_model=product_json.ProductResponse, responses=_WRITE, summary="Update (admins)")
async def update(scope: ApiScope, product: ChangedProduct, params: ProductParams) -> JSONBody:
    return product_json.show(await catalog.update_product(scope, product, _attrs(params.product)))


@router.put("/{id}", response_model=product_json.ProductResponse, responses=_WRITE, summary="Update (admins)")
async def replace(scope: ApiScope, product: ChangedProduct, params: ProductParams) -> JSONBody:
    return product_json.show(await catalog.update_product(scope, product, _attrs(params.product)))


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.NOT_FOUND},
    summary="Delete a product (admins)",
)
async def delete(scope: ApiScope, product: ChangedProduct) -> Response:
    await catalog.delete_product(scope, product)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
