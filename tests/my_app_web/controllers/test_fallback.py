"""The fallback: every error ends in our answer (never uvicorn's), and an unreachable database is a 503."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from my_app.config import Settings
from my_app_web.endpoint import Endpoint, create_app

UNAVAILABLE = {"errors": {"detail": "Service Unavailable"}}
SERVER_ERROR = {"errors": {"detail": "Internal Server Error"}}


async def raise_bug() -> None:
    raise RuntimeError("a bug")


async def raise_database_down() -> None:
    raise OperationalError("SELECT 1", {}, psycopg.OperationalError("the database system is shutting down"))


async def raise_group() -> None:
    raise ExceptionGroup("tasks", [psycopg.OperationalError("connection refused")])


async def raise_unique_violation() -> None:
    raise IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key"))


@pytest.fixture(scope="module")
def app(settings: Settings) -> Endpoint:
    endpoint = create_app(settings, start_application=False)
    for path, route in {
        "/api/test/bug": raise_bug,
        "/api/test/database-down": raise_database_down,
        "/api/test/group": raise_group,
        "/api/test/unique": raise_unique_violation,
        "/test/database-down": raise_database_down,
    }.items():
        endpoint.add_api_route(path, route)
    return endpoint


@pytest.fixture
async def strict_client(app: Endpoint) -> AsyncIterator[httpx.AsyncClient]:
    """raise_app_exceptions=True: an error that leaves the app (to uvicorn's handler) fails the test."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:4000") as client:
        yield client


@pytest.mark.parametrize("path", ["/api/test/database-down", "/api/test/group"])
async def test_an_unreachable_database_answers_503_json_with_retry_after(
    strict_client: httpx.AsyncClient, path: str
) -> None:
    response = await strict_client.get(path)

    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-request-id"]


async def test_a_browser_gets_the_503_page(strict_client: httpx.AsyncClient) -> None:
    response = await strict_client.get("/test/database-down", headers={"accept": "text/html"})

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "Service Unavailable" in response.text


@pytest.mark.parametrize("path", ["/api/test/bug", "/api/test/unique"])
async def test_other_errors_answer_500_without_internals_and_stay_inside_the_app(
    strict_client: httpx.AsyncClient, path: str
) -> None:
    response = await strict_client.get(path)

    assert response.status_code == 500
    assert response.json() == SERVER_ERROR
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        # Two routes share the path: the 405 names both methods, not only the first route's.
        ("OPTIONS", "/api/users", "GET, POST"),
        ("DELETE", "/api/categories", "GET, POST"),
        ("OPTIONS", "/api/posts/1/comments/2", "DELETE, GET, PATCH, PUT"),
        # /api/users/me also matches /api/users/{id}: only the methods of its own template.
        ("OPTIONS", "/api/users/me", "GET"),
    ],
)
async def test_a_method_the_path_lacks_answers_405_listing_every_method_it_has(
    strict_client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await strict_client.request(method, path)

    assert response.status_code == 405
    assert response.json() == {"errors": {"detail": "Method Not Allowed"}}
    assert response.headers.get_list("allow") == [allow]
