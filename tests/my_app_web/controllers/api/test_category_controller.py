"""The categories API: public reads, admin writes, `phx.gen.json` shapes."""

from __future__ import annotations

import uuid

import httpx
import pytest

from my_app import catalog
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.api import BAD_REQUEST, FORBIDDEN, NOT_FOUND, UNAUTHORIZED
from tests.support.fixtures.catalog import category_fixture, product_fixture, unique_slug

KEYS = {"id", "name", "slug", "description", "inserted_at", "updated_at"}


def body(**fields: object) -> dict[str, object]:
    return {"category": {"name": "Tea", "slug": unique_slug(), "description": "Leaves", **fields}}


async def test_index_is_public(client: httpx.AsyncClient) -> None:
    b = await category_fixture(name="beta")
    a = await category_fixture(name="Alpha")

    response = await client.get("/api/categories")

    assert response.status_code == 200, response.text
    assert [data["id"] for data in response.json()["data"]] == [str(a.id), str(b.id)]
    assert set(response.json()["data"][0]) == KEYS


async def test_a_bad_token_on_a_public_read_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/categories", headers={"authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


async def test_show(client: httpx.AsyncClient, user_auth: dict[str, str]) -> None:
    category = await category_fixture(name="Tea")

    response = await client.get(f"/api/categories/{category.id}", headers=user_auth)

    assert response.status_code == 200
    assert response.json()["data"]["name"] == "Tea"
    for missing in (str(uuid.uuid4()), "not-an-id"):
        response = await client.get(f"/api/categories/{missing}")
        assert response.status_code == 404
        assert response.json() == NOT_FOUND


async def test_admin_creates_updates_and_deletes(client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
    created = await client.post("/api/categories", json=body(name="Tea"), headers=admin_auth)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert set(data) == KEYS
    assert created.headers["location"] == f"/api/categories/{data['id']}"

    for method in ("PATCH", "PUT"):
        updated = await client.request(
            method, f"/api/categories/{data['id']}", json={"category": {"name": method}}, headers=admin_auth
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["data"]["name"] == method
        assert updated.json()["data"]["slug"] == data["slug"]

    deleted = await client.delete(f"/api/categories/{data['id']}", headers=admin_auth)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert await catalog.get_category(SYSTEM, data["id"]) is None


async def test_invalid_and_taken_values_are_422(client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
    taken = await category_fixture(name="Tea")

    response = await client.post("/api/categories", json=body(name="TEA"), headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"name": ["has already been taken"]}}

    response = await client.post("/api/categories", json=body(name="", slug="Bad Slug"), headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"name": ["can't be blank"], "slug": ["has invalid format"]}}

    response = await client.patch(f"/api/categories/{taken.id}", json={"category": {"slug": ""}}, headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"slug": ["can't be blank"]}}


async def test_a_category_with_products_is_not_deleted(client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
    product = await product_fixture()

    response = await client.delete(f"/api/categories/{product.category_id}", headers=admin_auth)

    assert response.status_code == 422
    assert response.json() == {"errors": {"products": ["are still associated with this entry"]}}


@pytest.mark.parametrize("payload", [{"name": "x"}, {"category": "x"}, {"category": {"name": 5}}])
async def test_a_body_of_the_wrong_shape_is_400(
    client: httpx.AsyncClient, admin_auth: dict[str, str], payload: object
) -> None:
    response = await client.post("/api/categories", json=payload, headers=admin_auth)
    assert response.status_code == 400
    assert response.json() == BAD_REQUEST


async def test_writes_need_an_admin_token(client: httpx.AsyncClient, user_auth: dict[str, str]) -> None:
    category = await category_fixture()
    url = f"/api/categories/{category.id}"
    requests = [
        ("POST", "/api/categories", body()),
        ("PATCH", url, body()),
        ("PUT", url, body()),
        ("DELETE", url, None),
    ]
    for method, path, payload in requests:
        anonymous = await client.request(method, path, json=payload)
        assert anonymous.status_code == 401, (method, anonymous.text)
        assert anonymous.json() == UNAUTHORIZED
        assert anonymous.headers["www-authenticate"] == "Bearer"
        forbidden = await client.request(method, path, json=payload, headers=user_auth)
        assert forbidden.status_code == 403, (method, forbidden.text)
        assert forbidden.json() == FORBIDDEN
    assert [c.id for c in await catalog.list_categories(SYSTEM)] == [category.id]
