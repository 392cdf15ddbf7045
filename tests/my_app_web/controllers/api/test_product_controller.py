"""The products API: public reads with filters and keyset pages, admin writes, money as strings."""

from __future__ import annotations

import base64
import csv
import io
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from my_app import catalog
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.api import BAD_REQUEST, FORBIDDEN, NOT_FOUND, UNAUTHORIZED
from tests.support.fixtures.catalog import category_fixture, product_fixture, unique_sku

KEYS = {
    "id",
    "name",
    "description",
    "price",
    "sku",
    "stock",
    "category_id",
    "category",
    "inserted_at",
    "updated_at",
}


def body(category_id: uuid.UUID | str, /, **fields: Any) -> dict[str, Any]:
    values = {"name": "Green tea", "description": "Sencha", "price": "4.50", "sku": unique_sku(), "stock": 3}
    return {"product": {**values, "category_id": str(category_id), **fields}}


async def test_index_is_public_and_renders_the_category(client: httpx.AsyncClient) -> None:
    category = await category_fixture(name="Tea")
    product = await product_fixture(category=category, price="12")

    response = await client.get("/api/products")

    assert response.status_code == 200, response.text
    assert response.json()["meta"] == {"limit": 20, "next_cursor": None}
    [data] = response.json()["data"]
    assert set(data) == KEYS
    assert data["id"] == str(product.id)
    assert data["price"] == "12.00"
    assert data["category"] == {"id": str(category.id), "name": "Tea", "slug": category.slug}


async def test_filters_as_query_parameters(client: httpx.AsyncClient) -> None:
    tea, coffee = await category_fixture(), await category_fixture()
    green = await product_fixture(category=tea, name="Green tea", price="4.50")
    await product_fixture(category=tea, name="Black tea", price="9.00")
    await product_fixture(category=coffee, name="Espresso", price="4.00")

    async def ids(params: dict[str, str]) -> list[str]:
        response = await client.get("/api/products", params=params)
        assert response.status_code == 200, response.text
        return [data["id"] for data in response.json()["data"]]

    assert await ids({"category_id": str(tea.id), "max_price": "5", "q": "tea"}) == [str(green.id)]
    assert len(await ids({"min_price": "4.25"})) == 2
    assert (await ids({"sort": "price_asc"}))[1] == str(green.id)


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"min_price": "abc"}, {"min_price": ["is invalid"]}),
        ({"category_id": "nope"}, {"category_id": ["is invalid"]}),
        ({"cursor": "garbage"}, {"cursor": ["is invalid"]}),
        ({"cursor": base64.urlsafe_b64encode(b'["newest", "x", "y"]').decode()}, {"cursor": ["is invalid"]}),
    ],
)
async def test_invalid_filter_values_are_422(
    client: httpx.AsyncClient, params: dict[str, str], errors: dict[str, list[str]]
) -> None:
    response = await client.get("/api/products", params=params)
    assert response.status_code == 422, response.text
    assert response.json() == {"errors": errors}


@pytest.mark.parametrize("params", [{"limit": "101"}, {"limit": "0"}, {"sort": "random"}, {"q": "x" * 201}])
async def test_out_of_range_parameters_are_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get("/api/products", params=params)
    assert response.status_code == 400, response.text
    assert response.json() == BAD_REQUEST


async def test_cursor_pages_walk_every_product_once_under_inserts(client: httpx.AsyncClient) -> None:
    category = await category_fixture()
    for _ in range(7):
        await product_fixture(category=category)
    everyone = {str(p.id) for p in (await catalog.list_products(SYSTEM, {"limit": 100})).items}
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        params = {"limit": "3", "sort": "oldest"} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/products", params=params)
        assert response.status_code == 200, response.text
        seen += [data["id"] for data in response.json()["data"]]
        await product_fixture(category=category)  # a concurrent insert between pages
        cursor = response.json()["meta"]["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert everyone <= set(seen)


async def test_show(client: httpx.AsyncClient) -> None:
    product = await product_fixture(price="0.5")

    response = await client.get(f"/api/products/{product.id}")

    assert response.status_code == 200
    assert response.json()["data"]["price"] == "0.50"
    for missing in (str(uuid.uuid4()), "not-an-id"):
        response = await client.get(f"/api/products/{missing}")
        assert response.status_code == 404
        assert response.json() == NOT_FOUND


async def test_admin_creates_updates_and_deletes(client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
    category = await category_fixture()

    created = await client.post("/api/products", json=body(category.id, price=19.99), headers=admin_auth)

    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert set(data) == KEYS
    assert data["price"] == "19.99"
    assert created.headers["location"] == f"/api/products/{data['id']}"
    for method, price in (("PATCH", "1"), ("PUT", "2.5")):
        updated = await client.request(
            method, f"/api/products/{data['id']}", json={"product": {"price": price}}, headers=admin_auth
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["data"]["price"] == format(Decimal(price), ".2f")
        assert updated.json()["data"]["sku"] == data["sku"]
    deleted = await client.delete(f"/api/products/{data['id']}", headers=admin_auth)
    assert deleted.status_code == 204
    assert await catalog.get_product(SYSTEM, data["id"]) is None


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"price": "-1"}, {"price": ["must be greater than or equal to 0"]}),
        ({"price": "abc"}, {"price": ["is invalid"]}),
        ({"price": -1}, {"price": ["must be greater than or equal to 0"]}),
        ({"stock": -2}, {"stock": ["must be greater than or equal to 0"]}),
        ({"name": ""}, {"name": ["can't be blank"]}),
        ({"category_id": str(uuid.uuid4())}, {"category_id": ["does not exist"]}),
    ],
)
async def test_invalid_products_are_422(
    client: httpx.AsyncClient, admin_auth: dict[str, str], fields: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    category = await category_fixture()
    response = await client.post("/api/products", json=body(category.id, **fields), headers=admin_auth)
    assert response.status_code == 422, response.text
    assert response.json() == {"errors": errors}


async def test_a_taken_sku_is_422(client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
    product = await product_fixture()
    response = await client.post("/api/products", json=body(product.category_id, sku=product.sku), headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"sku": ["has already been taken"]}}


@pytest.mark.parametrize("fields", [{"price": True}, {"stock": "many"}, {"price": [1]}])
async def test_wrong_types_are_400(client: httpx.AsyncClient, admin_auth: dict[str, str], fields: Any) -> None:
    category = await category_fixture()
    response = await client.post("/api/products", json=body(category.id, **fields), headers=admin_auth)
    assert response.status_code == 400, response.text
    assert response.json() == BAD_REQUEST


async def test_writes_need_an_admin_token(client: httpx.AsyncClient, user_auth: dict[str, str]) -> None:
    product = await product_fixture()
    url = f"/api/products/{product.id}"
    payload = body(product.category_id)
    for method, path, json in [("POST", "/api/products", payload), ("PATCH", url, payload), ("DELETE", url, None)]:
        anonymous = await client.request(method, path, json=json)
        assert anonymous.status_code == 401, (method, anonymous.text)
        assert anonymous.json() == UNAUTHORIZED
        forbidden = await client.request(method, path, json=json, headers=user_auth)
        assert forbidden.status_code == 403, (method, forbidden.text)
        assert forbidden.json() == FORBIDDEN
    assert (await catalog.get_product_or_404(SYSTEM, product.id)).price == product.price


async def test_the_filters_are_documented_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/openapi.json")).json()
    parameters = {p["name"] for p in schema["paths"]["/api/products"]["get"]["parameters"]}
    assert {"category_id", "min_price", "max_price", "q", "sort", "limit", "cursor"} <= parameters


@pytest.mark.parametrize("params", [{"q": "tea\x00"}, {"min_price": "1\x00"}, {"cursor": "\x00"}])
async def test_text_the_database_cannot_store_is_refused_not_a_crash(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/api/products", params=params)
    assert response.status_code == 422, response.text
    assert set(response.json()["errors"]) == set(params)


@pytest.mark.parametrize("price", ["1e999999", "1e-999999", "Infinity", "-0", 1e308])
async def test_extreme_prices_are_answered(
    client: httpx.AsyncClient, admin_auth: dict[str, str], price: str | float
) -> None:
    category = await category_fixture()
    response = await client.post("/api/products", json=body(category.id, price=price), headers=admin_auth)
    assert response.status_code in {201, 422}, response.text
    if response.status_code == 201:
        assert response.json()["data"]["price"] == "0.00"


# --- Export (CSV) ---


def _rows(response: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.text, newline="")))


async def test_export_streams_every_product_as_csv(client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
    category = await category_fixture(name="Tea, loose")
    tricky = await product_fixture(category=category, name='Tea, "green"\nand more', price="4.5", stock=7)
    plain = await product_fixture(category=category, name="Plain", price="10")

    response = await client.get("/api/products/export.csv", headers=admin_auth)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="products.csv"'
    assert '"Tea, ""green""\nand more"' in response.text  # quoted, quotes doubled, the newline kept
    header, *rows = _rows(response)
    assert header == ["id", "name", "sku", "category", "price", "stock", "inserted_at", "updated_at"]
    by_id = {row[0]: row for row in rows}
    assert list(by_id) == sorted(by_id)  # same inserted_at in one test transaction: then by id
    assert by_id[str(tricky.id)] == [
        str(tricky.id),
        'Tea, "green"\nand more',
        tricky.sku,
        category.slug,
        "4.50",
        "7",
        tricky.inserted_at.isoformat(),
        tricky.updated_at.isoformat(),
    ]
    assert by_id[str(plain.id)][4] == "10.00"


async def test_export_of_an_empty_catalog_is_the_header(client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
    response = await client.get("/api/products/export.csv", headers=admin_auth)

    assert response.status_code == 200
    assert response.text == "id,name,sku,category,price,stock,inserted_at,updated_at\r\n"


async def test_export_is_for_admins(client: httpx.AsyncClient, user_auth: dict[str, str]) -> None:
    await product_fixture(name="Secret stock")

    anonymous = await client.get("/api/products/export.csv")
    user = await client.get("/api/products/export.csv", headers=user_auth)

    assert (anonymous.status_code, anonymous.json()) == (401, UNAUTHORIZED)
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert (user.status_code, user.json()) == (403, FORBIDDEN)
    assert "Secret stock" not in user.text
