"""MAX_BODY_BYTES: larger bodies are refused with 413, by Content-Length up front and while streaming."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.types import Message, Receive, Scope, Send

from my_app.config import Settings
from my_app_web.endpoint import create_app
from my_app_web.plugs.body_limit import BodyLimitMiddleware
from tests.support.conn_case import client_for

LIMIT = 1000
TOO_LARGE = {"errors": {"detail": "Request Entity Too Large"}}


async def echo_size(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


class Chunks:
    """A streamed request body (`Transfer-Encoding: chunked`) that counts the chunks taken from it."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size, self.taken = count, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.taken += 1
            yield b"x" * self.size


@pytest.fixture(scope="module")
def test_app(settings: Settings) -> FastAPI:
    app = create_app(settings.model_copy(update={"max_body_bytes": LIMIT}), start_application=False)
    app.add_api_route("/api/test/echo", echo_size, methods=["POST"])
    return app


@pytest.fixture
async def http(test_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(test_app) as client:
        yield client


async def test_a_body_within_the_limit_is_read(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/test/echo", content=b"x" * LIMIT)

    assert response.status_code == 200
    assert response.json() == {"size": LIMIT}


async def test_a_declared_length_over_the_limit_is_refused_up_front(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/test/echo", content=b"x" * (LIMIT + 1))

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == TOO_LARGE
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_json_body_over_the_limit_never_reaches_the_route(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/sessions", json={"email": "a@example.com", "password": "x" * LIMIT})

    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_a_streamed_body_within_the_limit_is_read(http: httpx.AsyncClient) -> None:
    body = Chunks(count=10, size=LIMIT // 10)

    response = await http.post("/api/test/echo", content=body)

    assert response.status_code == 200
    assert response.json() == {"size": LIMIT}


async def test_a_streamed_body_over_the_limit_is_refused_and_no_longer_read(http: httpx.AsyncClient) -> None:
    body = Chunks(count=1000, size=100)  # 100 KB in 100-byte chunks, no Content-Length

    response = await http.post("/api/test/echo", content=body)

    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert response.headers["x-request-id"]
    assert body.taken == LIMIT // 100 + 1  # reading stopped at the first chunk past the limit


async def test_websocket_scopes_pass_untouched() -> None:
    seen: list[tuple[Scope, Receive]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive))

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        raise AssertionError(f"nothing is sent: {message}")

    scope: dict[str, Any] = {"type": "websocket", "headers": [(b"content-length", b"99999999")]}
    await BodyLimitMiddleware(app, max_body_bytes=LIMIT)(scope, receive, send)

    assert seen == [(scope, receive)]
