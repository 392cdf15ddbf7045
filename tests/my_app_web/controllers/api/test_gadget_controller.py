"""The gadgets API (phx.gen.json's gadget_controller_test): every route needs a bearer token; a user
sees and changes their own gadgets, an admin everyone's; someone else's gadget is 404."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from my_app import accounts, shop
from my_app.accounts.scope import Scope
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.api import BAD_REQUEST, NOT_FOUND, UNAUTHORIZED, api_user, auth_for
from tests.support.fixtures.catalog import category_fixture

KEYS = {
    "id",
    "name",
    "slug",
    "notes",
    "count",
    "weight",
    "price",
    "active",
    "released_on",
    "opens_at",
    "launched_at",
    "token",
    "specs",
    "tags",
    "sizes",
    "status",
    "category_id",
    "user_id",
    "inserted_at",
    "updated_at",
}


def unique(value: str) -> str:
    """`value` made unique (for the fields that must be): `some name-1f3a9c2e`."""
    return f"{value}-{uuid.uuid4().hex[:8]}"


async def valid_attrs(**overrides: Any) -> dict[str, Any]:
    """Every field, as an API client sends it (a new record for each reference)."""
    return {
        "name": "some name",
        "slug": unique("some name"),
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
        "secret": "some name",
        "category_id": str((await category_fixture()).id),
        **overrides,
    }


async def gadget_of(user: accounts.User, **overrides: Any) -> shop.Gadget:
    """A gadget owned by `user`, made through the context."""
    return await shop.create_gadget(Scope.for_user(user), await valid_attrs(**overrides))


async def listed_ids(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get("/api/gadgets", params={"limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return [gadget["id"] for gadget in response.json()["data"]]


class TestIndex:
    async def test_lists_the_callers_own_gadgets(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        own = await gadget_of(user)
        await gadget_of(await api_user())

        response = await client.get("/api/gadgets", headers=user_auth)

        assert response.status_code == 200, response.text
        assert response.json()["meta"] == {"limit": 20, "next_cursor": None}
        [data] = response.json()["data"]
        assert set(data) == KEYS
        assert data["id"] == str(own.id)
        assert data["user_id"] == str(user.id)

    async def test_an_admin_lists_every_gadget(
        self, client: httpx.AsyncClient, user: accounts.User, admin_auth: dict[str, str]
    ) -> None:
        mine, theirs = await gadget_of(user), await gadget_of(await api_user())

        assert {str(mine.id), str(theirs.id)} <= set(await listed_ids(client, admin_auth))

    async def test_pages_follow_next_cursor(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        made = [str((await gadget_of(user)).id) for _ in range(3)]

        first = (await client.get("/api/gadgets", params={"limit": 2}, headers=user_auth)).json()
        seen = [gadget["id"] for gadget in first["data"]]
        cursor = first["meta"]["next_cursor"]
        assert len(seen) == 2
        assert cursor is not None
        while cursor:
            page = (await client.get("/api/gadgets", params={"limit": 2, "cursor": cursor}, headers=user_auth)).json()
            seen += [gadget["id"] for gadget in page["data"]]
            cursor = page["meta"]["next_cursor"]

        assert sorted(seen) == sorted(made)  # each once

    async def test_a_bad_limit_is_400_and_a_bad_cursor_422(
        self, client: httpx.AsyncClient, user_auth: dict[str, str]
    ) -> None:
        for limit in (0, 101):
            response = await client.get("/api/gadgets", params={"limit": limit}, headers=user_auth)
            assert (response.status_code, response.json()) == (400, BAD_REQUEST)
        response = await client.get("/api/gadgets", params={"cursor": "garbage"}, headers=user_auth)
        assert (response.status_code, response.json()) == (422, {"errors": {"cursor": ["is invalid"]}})


class TestCreate:
    async def test_creates_a_gadget_owned_by_the_caller(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        attrs = await valid_attrs(user_id=str((await api_user()).id))  # the owner is the caller, whatever is sent

        response = await client.post("/api/gadgets", json={"gadget": attrs}, headers=user_auth)

        assert response.status_code == 201, response.text
        data = response.json()["data"]
        assert response.headers["location"] == f"/api/gadgets/{data['id']}"
        assert set(data) == KEYS
        assert data["name"] == "some name"
        assert data["slug"] == attrs["slug"]
        assert data["notes"] == "some text"
        assert data["count"] == 42
        assert data["weight"] == 120.5
        assert data["price"] == "120.50"
        assert data["active"] is True
        assert data["released_on"] == "2026-12-01"
        assert data["opens_at"] == "14:00:00"
        assert data["launched_at"] == "2026-12-01T14:00:00Z"
        assert data["token"] == "7488a646-e31f-11e4-aace-600308960662"
        assert data["specs"] == {"size": "large"}
        assert data["tags"] == ["some name", "other name"]
        assert data["sizes"] == [42, 43]
        assert data["status"] == "draft"
        assert data["category_id"] == attrs["category_id"]
        assert data["user_id"] == str(user.id)
        shown = await client.get(response.headers["location"], headers=user_auth)
        assert shown.json() == {"data": data}

    async def test_missing_fields_are_422_with_their_errors(
        self, client: httpx.AsyncClient, user_auth: dict[str, str]
    ) -> None:
        response = await client.post("/api/gadgets", json={"gadget": {}}, headers=user_auth)

        assert response.status_code == 422, response.text
        assert response.json() == {
            "errors": {
                "name": ["can't be blank"],
                "slug": ["can't be blank"],
                "notes": ["can't be blank"],
                "count": ["can't be blank"],
                "weight": ["can't be blank"],
                "price": ["can't be blank"],
                "released_on": ["can't be blank"],
                "opens_at": ["can't be blank"],
                "launched_at": ["can't be blank"],
                "token": ["can't be blank"],
                "specs": ["can't be blank"],
                "tags": ["can't be blank"],
                "sizes": ["can't be blank"],
                "status": ["can't be blank"],
                "secret": ["can't be blank"],
                "category_id": ["can't be blank"],
            }
        }

    async def test_a_status_not_in_the_list_is_422(self, client: httpx.AsyncClient, user_auth: dict[str, str]) -> None:
        attrs = await valid_attrs(status="not-a-status")

        response = await client.post("/api/gadgets", json={"gadget": attrs}, headers=user_auth)

        assert response.status_code == 422, response.text
        assert response.json() == {"errors": {"status": ["is invalid"]}}

    async def test_a_taken_slug_is_422(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        taken = await valid_attrs()
        await shop.create_gadget(Scope.for_user(user), taken)
        attrs = await valid_attrs(slug=taken["slug"])

        response = await client.post("/api/gadgets", json={"gadget": attrs}, headers=user_auth)

        assert response.status_code == 422, response.text
        assert response.json() == {"errors": {"slug": ["has already been taken"]}}

    @pytest.mark.parametrize("field", ["category_id"])
    async def test_a_reference_to_nothing_is_422(
        self, client: httpx.AsyncClient, user_auth: dict[str, str], field: str
    ) -> None:
        attrs = await valid_attrs(**{field: str(uuid.uuid4())})

        response = await client.post("/api/gadgets", json={"gadget": attrs}, headers=user_auth)

        assert response.status_code == 422, response.text
        assert response.json() == {"errors": {field: ["does not exist"]}}

    @pytest.mark.parametrize(
        "payload",
        [
            {"name": "some name"},  # no "gadget" wrapper
            {"gadget": "gadget"},
            {"gadget": [{}]},
            {"gadget": {"name": 42}},  # a JSON number for text
            {"gadget": {"name": "nul\x00"}},  # text the database cannot store
            {"gadget": {"count": "many"}},
            {"gadget": {"active": "yes"}},
            {"gadget": {"tags": "not a list"}},
            {"gadget": {"specs": "not an object"}},
            {"gadget": {"specs": {"nul\x00": "text"}}},
            {"gadget": {"specs": {"big": 2**64}}},
        ],
    )
    async def test_a_body_of_the_wrong_shape_is_400(
        self, client: httpx.AsyncClient, user_auth: dict[str, str], payload: Any
    ) -> None:
        response = await client.post("/api/gadgets", json=payload, headers=user_auth)

        assert response.status_code == 400, response.text
        assert response.json() == BAD_REQUEST

    async def test_malformed_json_is_400(self, client: httpx.AsyncClient, user_auth: dict[str, str]) -> None:
        headers = {**user_auth, "content-type": "application/json"}

        response = await client.post("/api/gadgets", content=b'{"gadget": {', headers=headers)

        assert (response.status_code, response.json()) == (400, BAD_REQUEST)


class TestShow:
    async def test_shows_the_owner_and_admins_the_gadget(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str], admin_auth: dict[str, str]
    ) -> None:
        gadget = await gadget_of(user)

        for headers in (user_auth, admin_auth):
            response = await client.get(f"/api/gadgets/{gadget.id}", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["data"]["id"] == str(gadget.id)

    async def test_someone_elses_unknown_and_malformed_ids_are_404(
        self, client: httpx.AsyncClient, user_auth: dict[str, str]
    ) -> None:
        theirs = await gadget_of(await api_user())

        for gadget_id in (theirs.id, uuid.uuid4(), "not-an-id"):
            response = await client.get(f"/api/gadgets/{gadget_id}", headers=user_auth)
            assert (response.status_code, response.json()) == (404, NOT_FOUND)


class TestUpdateAndDelete:
    async def test_the_owner_updates_every_field_with_patch(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        gadget = await gadget_of(user)
        changes = {
            "name": "other name",
            "slug": "other name",
            "notes": "other text",
            "count": 43,
            "weight": 456.7,
            "price": "456.70",
            "active": False,
            "released_on": "2026-12-02",
            "opens_at": "15:01:01",
            "launched_at": "2026-12-02T15:01:01Z",
            "token": "7488a646-e31f-11e4-aace-600308960668",
            "specs": {"size": "small"},
            "tags": ["other name", "some name"],
            "sizes": [43, 42],
            "status": "published",
            "secret": "other name",
            "category_id": str((await category_fixture()).id),
        }

        response = await client.patch(f"/api/gadgets/{gadget.id}", json={"gadget": changes}, headers=user_auth)

        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["name"] == "other name"
        assert data["slug"] == "other name"
        assert data["notes"] == "other text"
        assert data["count"] == 43
        assert data["weight"] == 456.7
        assert data["price"] == "456.70"
        assert data["active"] is False
        assert data["released_on"] == "2026-12-02"
        assert data["opens_at"] == "15:01:01"
        assert data["launched_at"] == "2026-12-02T15:01:01Z"
        assert data["token"] == "7488a646-e31f-11e4-aace-600308960668"
        assert data["specs"] == {"size": "small"}
        assert data["tags"] == ["other name", "some name"]
        assert data["sizes"] == [43, 42]
        assert data["status"] == "published"
        assert data["category_id"] == changes["category_id"]
        assert data["user_id"] == str(user.id)
        assert (await client.get(f"/api/gadgets/{gadget.id}", headers=user_auth)).json() == {"data": data}

    async def test_put_changes_only_what_it_names(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        gadget = await gadget_of(user)
        before = (await client.get(f"/api/gadgets/{gadget.id}", headers=user_auth)).json()["data"]
        change = {"name": "other name"}

        response = await client.put(f"/api/gadgets/{gadget.id}", json={"gadget": change}, headers=user_auth)

        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data == before | change | {"updated_at": data["updated_at"]}

    async def test_a_blank_field_is_422_and_nothing_changes(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        gadget = await gadget_of(user)
        url = f"/api/gadgets/{gadget.id}"
        before = (await client.get(url, headers=user_auth)).json()

        response = await client.patch(url, json={"gadget": {"name": None}}, headers=user_auth)

        assert response.status_code == 422, response.text
        assert response.json() == {"errors": {"name": ["can't be blank"]}}
        assert (await client.get(url, headers=user_auth)).json() == before

    async def test_the_owner_deletes(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        gadget = await gadget_of(user)

        deleted = await client.delete(f"/api/gadgets/{gadget.id}", headers=user_auth)

        assert deleted.status_code == 204
        assert deleted.content == b""
        shown = await client.get(f"/api/gadgets/{gadget.id}", headers=user_auth)
        assert (shown.status_code, shown.json()) == (404, NOT_FOUND)
        assert await shop.get_gadget(SYSTEM, gadget.id) is None

    async def test_someone_elses_gadget_is_404_and_nothing_changes(
        self, client: httpx.AsyncClient, user_auth: dict[str, str]
    ) -> None:
        owner = await api_user()
        theirs = await gadget_of(owner)
        url = f"/api/gadgets/{theirs.id}"
        before = (await client.get(url, headers=await auth_for(owner))).json()
        changes = {"gadget": await valid_attrs()}

        for method, payload in (("PATCH", changes), ("PUT", changes), ("DELETE", None)):
            response = await client.request(method, url, json=payload, headers=user_auth)
            assert (response.status_code, response.json()) == (404, NOT_FOUND), method
        assert (await client.get(url, headers=await auth_for(owner))).json() == before

    async def test_an_admin_updates_and_deletes_anyones_gadget(
        self, client: httpx.AsyncClient, user: accounts.User, admin_auth: dict[str, str]
    ) -> None:
        gadget = await gadget_of(user)
        url = f"/api/gadgets/{gadget.id}"

        patched = await client.patch(url, json={"gadget": await valid_attrs()}, headers=admin_auth)
        deleted = await client.delete(url, headers=admin_auth)

        assert patched.status_code == 200, patched.text
        assert patched.json()["data"]["user_id"] == str(user.id)  # still the owner's
        assert deleted.status_code == 204
        assert await shop.get_gadget(SYSTEM, gadget.id) is None


async def test_every_route_needs_a_bearer_token(client: httpx.AsyncClient, user: accounts.User) -> None:
    gadget = await gadget_of(user)
    url = f"/api/gadgets/{gadget.id}"
    payload = {"gadget": await valid_attrs()}
    requests = [
        ("GET", "/api/gadgets", None),
        ("POST", "/api/gadgets", payload),
        ("GET", url, None),
        ("PATCH", url, payload),
        ("PUT", url, payload),
        ("DELETE", url, None),
    ]
    for method, path, json in requests:
        for headers in ({}, {"authorization": "Bearer not-a-token"}):
            response = await client.request(method, path, json=json, headers=headers)
            assert (response.status_code, response.json()) == (401, UNAUTHORIZED), (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
    assert await shop.get_gadget(SYSTEM, gadget.id) is not None


async def test_the_openapi_document_lists_the_routes_and_their_statuses(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    statuses = {
        (method, path): {code for code in spec["responses"] if code != "default"}
        for path, methods in document["paths"].items()
        if path in ("/api/gadgets", "/api/gadgets/{id}")
        for method, spec in methods.items()
    }

    assert statuses == {
        ("get", "/api/gadgets"): {"200", "400", "401", "422"},
        ("post", "/api/gadgets"): {"201", "400", "401", "413", "422"},
        ("get", "/api/gadgets/{id}"): {"200", "401", "404"},
        ("patch", "/api/gadgets/{id}"): {"200", "400", "401", "404", "413", "422"},
        ("put", "/api/gadgets/{id}"): {"200", "400", "401", "404", "413", "422"},
        ("delete", "/api/gadgets/{id}"): {"204", "401", "404"},
    }
    schemas = document["components"]["schemas"]
    assert set(schemas["GadgetData"]["properties"]) == KEYS
    assert set(schemas["GadgetData"]["example"]) == KEYS
    assert set(schemas["GadgetParams"]["properties"]) == {"gadget"}
    assert set(schemas["GadgetFields"]["properties"]) == {
        "name",
        "slug",
        "notes",
        "count",
        "weight",
        "price",
        "active",
        "released_on",
        "opens_at",
        "launched_at",
        "token",
        "specs",
        "tags",
        "sizes",
        "status",
        "secret",
        "category_id",
    }
