"""The API's OpenAPI document (/api/openapi.json) and its docs page (/api/docs)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from my_app_web.router import API_ROUTERS
from tests.support.conn_case import client_for

# Every API operation, the statuses it answers with, and whether it needs a bearer token.
OPERATIONS: dict[tuple[str, str], tuple[set[int], bool]] = {
    ("post", "/api/users/register"): ({201, 400, 413, 422, 429}, False),
    ("get", "/api/users/me"): ({200, 401}, True),
    ("put", "/api/users/me/password"): ({200, 400, 401, 413, 422, 429}, True),
    ("post", "/api/users/me/email"): ({202, 400, 401, 413, 422, 429}, True),
    ("put", "/api/users/me/email/{token}"): ({200, 401, 404, 422}, True),
    ("post", "/api/users/confirm"): ({202, 400, 413, 429}, False),
    ("post", "/api/users/confirm/{token}"): ({200, 404}, False),
    ("post", "/api/users/reset-password"): ({202, 400, 413, 429}, False),
    ("put", "/api/users/reset-password/{token}"): ({200, 400, 404, 413, 422}, False),
    ("post", "/api/users/log-in-link"): ({202, 400, 413, 429}, False),
    ("get", "/api/users"): ({200, 400, 401, 403, 422}, True),
    ("post", "/api/users"): ({201, 400, 401, 403, 413, 422}, True),
    ("get", "/api/users/{id}"): ({200, 401, 403, 404}, True),
    ("patch", "/api/users/{id}"): ({200, 400, 401, 403, 404, 413, 422}, True),
    ("put", "/api/users/{id}"): ({200, 400, 401, 403, 404, 413, 422}, True),
    ("delete", "/api/users/{id}"): ({204, 401, 403, 404}, True),
    ("post", "/api/sessions"): ({201, 400, 401, 413, 429}, False),
    ("delete", "/api/sessions"): ({204, 401}, True),
    ("post", "/api/sessions/magic-link/{token}"): ({201, 401}, False),
    ("get", "/api/socket-token"): ({200, 401}, True),
    # Catalog reads are public (an optional bearer token; a bad one is 401), documented without security.
    ("get", "/api/categories"): ({200, 401}, False),
    ("post", "/api/categories"): ({201, 400, 401, 403, 413, 422}, True),
    ("get", "/api/categories/{id}"): ({200, 401, 404}, False),
    ("patch", "/api/categories/{id}"): ({200, 400, 401, 403, 404, 413, 422}, True),
    ("put", "/api/categories/{id}"): ({200, 400, 401, 403, 404, 413, 422}, True),
    ("delete", "/api/categories/{id}"): ({204, 401, 403, 404, 422}, True),
    ("get", "/api/products"): ({200, 400, 401, 422}, False),
    ("post", "/api/products"): ({201, 400, 401, 403, 413, 422}, True),
    ("get", "/api/products/export.csv"): ({200, 401, 403}, True),
    ("get", "/api/products/{id}"): ({200, 401, 404}, False),
    ("patch", "/api/products/{id}"): ({200, 400, 401, 403, 404, 413, 422}, True),
    ("put", "/api/products/{id}"): ({200, 400, 401, 403, 404, 413, 422}, True),
    ("delete", "/api/products/{id}"): ({204, 401, 403, 404}, True),
    # Blog: reads are public (an optional bearer token also shows the caller's drafts).
    ("get", "/api/posts"): ({200, 400, 401, 422}, False),
    ("get", "/api/posts/drafts"): ({200, 400, 401, 422}, True),
    ("post", "/api/posts"): ({201, 400, 401, 413, 422}, True),
    ("get", "/api/posts/{id}"): ({200, 401, 404}, False),
    ("patch", "/api/posts/{id}"): ({200, 400, 401, 403, 404, 413, 422}, True),
    ("put", "/api/posts/{id}"): ({200, 400, 401, 403, 404, 413, 422}, True),
    ("delete", "/api/posts/{id}"): ({204, 401, 403, 404}, True),
    ("get", "/api/posts/{post_id}/comments"): ({200, 400, 401, 404, 422}, False),
    ("post", "/api/posts/{post_id}/comments"): ({201, 400, 401, 404, 413, 422}, True),
    ("get", "/api/posts/{post_id}/comments/{id}"): ({200, 401, 404}, False),
    ("patch", "/api/posts/{post_id}/comments/{id}"): ({200, 400, 401, 403, 404, 413, 422}, True),
    ("put", "/api/posts/{post_id}/comments/{id}"): ({200, 400, 401, 403, 404, 413, 422}, True),
    ("delete", "/api/posts/{post_id}/comments/{id}"): ({204, 401, 403, 404}, True),
}
# Lists answer 400 for a bad `?limit=`, without a request body.
LISTS = {
    ("get", "/api/users"),
    ("get", "/api/categories"),
    ("get", "/api/products"),
    ("get", "/api/posts"),
    ("get", "/api/posts/drafts"),
    ("get", "/api/posts/{post_id}/comments"),
}
# Operations whose 200 is not JSON: its media type.
NOT_JSON = {("get", "/api/products/export.csv"): "text/csv"}
# Bodies wrapped in the resource's name (Phoenix's params); auth endpoints take bare fields.
WRAPPED: dict[tuple[str, str], tuple[str, set[str]]] = {
    ("post", "/api/users/register"): ("user", {"email", "name", "password"}),
    ("post", "/api/users"): ("user", {"email", "name", "password"}),
    ("patch", "/api/users/{id}"): ("user", {"email", "name", "password"}),
    ("put", "/api/users/{id}"): ("user", {"email", "name", "password"}),
    ("post", "/api/categories"): ("category", {"name", "slug", "description"}),
    ("patch", "/api/categories/{id}"): ("category", {"name", "slug", "description"}),
    ("put", "/api/categories/{id}"): ("category", {"name", "slug", "description"}),
    ("post", "/api/products"): ("product", {"name", "description", "price", "sku", "stock", "category_id"}),
    ("patch", "/api/products/{id}"): ("product", {"name", "description", "price", "sku", "stock", "category_id"}),
    ("put", "/api/products/{id}"): ("product", {"name", "description", "price", "sku", "stock", "category_id"}),
}
ERROR_DETAILS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
}


@pytest.fixture(scope="module")
async def document(web_app: FastAPI) -> dict[str, Any]:
    async with client_for(web_app) as client:
        response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


def api_operations() -> set[tuple[str, str]]:
    """Every route the API's controllers declare (the router mounts them under /api)."""
    return {
        (method.lower(), "/api" + route.path)
        for controller in API_ROUTERS
        for route in controller.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods or ()
    }


def resource_shape(method: str, path: str) -> tuple[set[int], bool]:
    """What an operation not listed in OPERATIONS answers: the owner-scoped resource of `myapp gen
    json` (a bearer token for everything; someone else's record is 404, never 403)."""
    member = path.endswith("/{id}")
    shapes = {
        ("get", False): {200, 400, 401, 422},
        ("post", False): {201, 400, 401, 413, 422},
        ("get", True): {200, 401, 404},
        ("patch", True): {200, 400, 401, 404, 413, 422},
        ("put", True): {200, 400, 401, 404, 413, 422},
        ("delete", True): {204, 401, 404},
    }
    return shapes[(method, member)], True


# The listed operations, then every other one (generated resources) with the resource shape.
ALL_OPERATIONS = {**{key: resource_shape(*key) for key in api_operations() - set(OPERATIONS)}, **OPERATIONS}
ALL_LISTS = LISTS | {
    key for key in ALL_OPERATIONS.keys() - OPERATIONS.keys() if key[0] == "get" and not key[1].endswith("}")
}


def test_every_api_route_is_documented_and_known_here(document: dict[str, Any]) -> None:
    documented = {
        (method, path) for path, methods in document["paths"].items() if path.startswith("/api") for method in methods
    }

    assert set(OPERATIONS) <= api_operations()
    assert documented == api_operations()


@pytest.mark.parametrize(("method", "path"), sorted(ALL_OPERATIONS))
def test_each_operation_documents_exactly_the_statuses_it_answers_with(
    document: dict[str, Any], method: str, path: str
) -> None:
    statuses, _ = ALL_OPERATIONS[(method, path)]
    responses = operation(document, method, path)["responses"]

    assert {int(code) for code in responses if code != "default"} == statuses
    assert "default" in responses  # a 500 has the ErrorJSON shape too
    for code, response in responses.items():
        content = response.get("content", {}).get("application/json", {})
        if code == "204":
            assert not content
            continue
        if code == "200" and (method, path) in NOT_JSON:
            assert set(response["content"]) == {NOT_JSON[(method, path)]}
            assert response["content"][NOT_JSON[(method, path)]]["schema"] == {"type": "string"}
            continue
        schema = resolve(document, content["schema"])
        assert schema.get("title") != "HTTPValidationError", f"{method} {path} {code}: the app never sends it"
        assert response["description"]
        if code == "422":
            assert schema["title"] == "ChangesetErrorBody"
        elif code == "default" or code.startswith("4"):
            assert schema["title"] == "ErrorBody"
            detail = "Internal Server Error" if code == "default" else ERROR_DETAILS[int(code)]
            assert content["example"] == {"errors": {"detail": detail}}
        else:
            assert "data" in schema["properties"]


@pytest.mark.parametrize(("method", "path"), sorted(ALL_OPERATIONS))
def test_each_operation_documents_its_request_body_and_authentication(
    document: dict[str, Any], method: str, path: str
) -> None:
    statuses, needs_token = ALL_OPERATIONS[(method, path)]
    spec = operation(document, method, path)

    assert spec.get("summary")
    assert bool(spec.get("security")) == needs_token
    if 400 in statuses and (method, path) not in ALL_LISTS:  # a list's 400 is about its query parameters
        body = spec["requestBody"]
        assert body["required"] is True
        schema = resolve(document, body["content"]["application/json"]["schema"])
        assert schema["type"] == "object"
        assert schema["properties"]
        if (method, path) in WRAPPED:
            key, names = WRAPPED[(method, path)]
            assert set(schema["properties"]) == {key}
            assert schema["required"] == [key]
            fields = resolve(document, schema["properties"][key])
            assert names <= set(fields["properties"])
            assert all("examples" in field for field in fields["properties"].values())
        else:
            assert "user" not in schema["properties"]
            assert schema["required"]
    else:
        assert "requestBody" not in spec
    for parameter in spec.get("parameters", []):
        if parameter["in"] == "path":
            assert f"{{{parameter['name']}}}" in path


def test_users_are_documented_with_an_example_and_without_password_fields(document: dict[str, Any]) -> None:
    user = document["components"]["schemas"]["UserData"]

    assert set(user["properties"]) == {"id", "email", "name", "role", "confirmed_at", "inserted_at", "updated_at"}
    assert set(user["example"]) == set(user["properties"])
    assert not [name for name in document["components"]["schemas"] if "Validation" in name]


def test_the_list_documents_its_limit_and_cursor(document: dict[str, Any]) -> None:
    parameters = {parameter["name"]: parameter for parameter in operation(document, "get", "/api/users")["parameters"]}

    assert set(parameters) == {"limit", "cursor"}
    limit = parameters["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 20)
    meta = document["components"]["schemas"]["ListMeta"]
    assert set(meta["properties"]) == {"limit", "next_cursor"}


async def test_the_docs_page_is_html(web_app: FastAPI) -> None:
    async with client_for(web_app) as client:
        response = await client.get("/api/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/api/openapi.json" in response.text
    assert "swagger" in response.text.lower()
