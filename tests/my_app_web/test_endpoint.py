from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from my_app.config import Settings
from my_app.errors import ForbiddenError, NotFoundError, UnauthorizedError, ValidationError
from my_app_web.endpoint import create_app
from tests.support.conn_case import client_for

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
GENERATED_ID = re.compile(r"^[A-Za-z0-9+/=_\-]{20,200}$")


# --- tiny endpoints that fail in each way a context or a plug can ---


def raise_unauthorized() -> None:
    raise UnauthorizedError()


def raise_forbidden() -> None:
    raise ForbiddenError()


def raise_not_found() -> None:
    raise NotFoundError("user", 42)


def raise_validation_error() -> None:
    raise ValidationError({"email": ["has already been taken"]})


def raise_too_many_requests() -> None:
    raise HTTPException(429, headers={"retry-after": "30"})


def raise_runtime_error() -> None:
    raise RuntimeError("secret detail")


class UserParams(BaseModel):
    email: str
    name: str


class UserBody(BaseModel):
    user: UserParams


def echo_user(body: UserBody) -> dict[str, dict[str, str]]:
    return {"data": body.user.model_dump()}


@pytest.fixture(scope="module")
def test_app(settings: Settings) -> FastAPI:
    app = create_app(settings, start_application=False)
    for path, endpoint in [
        ("/api/test/unauthorized", raise_unauthorized),
        ("/api/test/forbidden", raise_forbidden),
        ("/api/test/not-found", raise_not_found),
        ("/api/test/invalid", raise_validation_error),
        ("/api/test/throttled", raise_too_many_requests),
        ("/api/test/crash", raise_runtime_error),
        ("/test/crash", raise_runtime_error),
    ]:
        app.add_api_route(path, endpoint, methods=["GET"])
    app.add_api_route("/api/test/users", echo_user, methods=["POST"])
    return app


@pytest.fixture
async def http(test_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(test_app) as client:
        yield client


# --- request ids ---


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health"),
        ("GET", "/"),
        ("GET", "/static/app.css"),
        ("GET", "/api/nothing-here"),
        ("POST", "/health"),
        ("GET", "/api/test/invalid"),
        ("GET", "/api/test/crash"),
    ],
)
async def test_every_response_carries_a_request_id(http: httpx.AsyncClient, method: str, path: str) -> None:
    response = await http.request(method, path)

    assert GENERATED_ID.match(response.headers.get("x-request-id", ""))


async def test_each_request_gets_its_own_id(http: httpx.AsyncClient) -> None:
    first = await http.get("/health")
    second = await http.get("/health")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_valid_incoming_request_id_is_echoed(http: httpx.AsyncClient) -> None:
    incoming = "from-the-load-balancer_0123456789"

    response = await http.get("/health", headers={"x-request-id": incoming})

    assert response.headers["x-request-id"] == incoming


async def test_the_incoming_request_id_is_echoed_on_errors_too(http: httpx.AsyncClient) -> None:
    incoming = "from-the-load-balancer_0123456789"

    response = await http.get("/api/test/crash", headers={"x-request-id": incoming})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["too-short", "x" * 201, "has spaces in it, which are not allowed", 'quote"and<angle>brackets-0123456789'],
)
async def test_an_invalid_incoming_request_id_is_replaced(http: httpx.AsyncClient, incoming: str) -> None:
    response = await http.get("/health", headers={"x-request-id": incoming})

    assert response.headers["x-request-id"] != incoming
    assert GENERATED_ID.match(response.headers["x-request-id"])


# --- JSON error shapes (FallbackController, ErrorJSON, ChangesetJSON) ---


async def test_an_unknown_api_path_is_a_json_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"errors": {"detail": "Not Found"}}


async def test_api_paths_answer_json_even_to_a_browser(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/nothing-here", headers=BROWSER)

    assert response.status_code == 404
    assert response.json() == {"errors": {"detail": "Not Found"}}


async def test_a_missing_record_is_a_json_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/test/not-found")

    assert response.status_code == 404
    assert response.json() == {"errors": {"detail": "Not Found"}}


async def test_a_wrong_method_is_a_json_405_naming_the_allowed_ones(http: httpx.AsyncClient) -> None:
    response = await http.post("/health")

    assert response.status_code == 405
    assert response.json() == {"errors": {"detail": "Method Not Allowed"}}
    assert response.headers["allow"] == "GET"


async def test_malformed_json_is_a_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/test/users", content=b'{"user": {"email": ', headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json() == {"errors": {"detail": "Bad Request"}}


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ana@example.com", "name": "Ana"},  # the "user" wrapper is missing
        {"user": {"email": "ana@example.com"}},  # a field is missing
        {"user": {"email": 5, "name": "Ana"}},  # a wrong type
        {"user": "ana@example.com"},
    ],
)
async def test_a_body_of_the_wrong_shape_is_a_400(http: httpx.AsyncClient, body: object) -> None:
    response = await http.post("/api/test/users", json=body)

    assert response.status_code == 400
    assert response.json() == {"errors": {"detail": "Bad Request"}}


async def test_a_well_formed_body_reaches_the_endpoint(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/test/users", json={"user": {"email": "ana@example.com", "name": "Ana"}})

    assert response.status_code == 200
    assert response.json() == {"data": {"email": "ana@example.com", "name": "Ana"}}


async def test_unauthorized_is_a_401_asking_for_a_bearer_token(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/test/unauthorized")

    assert response.status_code == 401
    assert response.json() == {"errors": {"detail": "Unauthorized"}}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_forbidden_is_a_403(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/test/forbidden")

    assert response.status_code == 403
    assert response.json() == {"errors": {"detail": "Forbidden"}}


async def test_a_refused_change_is_a_422_with_the_field_errors(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/test/invalid")

    assert response.status_code == 422
    assert response.json() == {"errors": {"email": ["has already been taken"]}}


async def test_too_many_requests_is_a_429_keeping_retry_after(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/test/throttled")

    assert response.status_code == 429
    assert response.json() == {"errors": {"detail": "Too Many Requests"}}
    assert response.headers["retry-after"] == "30"


async def test_a_crash_is_a_500_that_reveals_nothing(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/test/crash")

    assert response.status_code == 500
    assert response.json() == {"errors": {"detail": "Internal Server Error"}}
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


async def test_a_crash_on_a_page_is_an_html_500_that_reveals_nothing(http: httpx.AsyncClient) -> None:
    response = await http.get("/test/crash", headers=BROWSER)

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Internal Server Error" in response.text
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text


# --- browsers get pages ---


async def test_a_browser_asking_for_a_missing_page_gets_an_html_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/no-such-page", headers=BROWSER)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert '<p class="error-code">404</p>' in response.text
    assert '<h1 id="error-title">Not Found</h1>' in response.text
    assert 'class="brand"' in response.text  # rendered in the site's layout


async def test_a_client_not_asking_for_html_gets_json_for_a_missing_page(http: httpx.AsyncClient) -> None:
    response = await http.get("/no-such-page", headers={"accept": "application/json"})

    assert response.status_code == 404
    assert response.json() == {"errors": {"detail": "Not Found"}}


# --- logs ---


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the app's log handler writes, rendered as in production."""
    root = logging.getLogger()
    captured = logging.StreamHandler(io.StringIO())
    captured.setFormatter(root.handlers[0].formatter)
    root.addHandler(captured)
    try:
        yield captured.stream
    finally:
        root.removeHandler(captured)


async def test_the_crash_is_logged_with_its_request_id(http: httpx.AsyncClient, log_lines: io.StringIO) -> None:
    incoming = "from-the-load-balancer_0123456789"

    await http.get("/api/test/crash", headers={"x-request-id": incoming})

    crash = [line for line in log_lines.getvalue().splitlines() if "unhandled error" in line]
    assert len(crash) == 1
    assert incoming in crash[0]
    assert "secret detail" in log_lines.getvalue()  # the detail goes to the log, not to the client
