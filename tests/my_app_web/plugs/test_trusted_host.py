"""TRUSTED_HOSTS: requests (and socket upgrades) for other hosts are answered 400 in our JSON shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from my_app.config import Settings
from my_app_web.endpoint import Endpoint, create_app
from my_app_web.plugs.trusted_host import TrustedHosts
from tests.support.conn_case import client_for

BAD_REQUEST = {"errors": {"detail": "Bad Request"}}


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        (b"example.com", True),
        (b"EXAMPLE.com", True),
        (b"example.com:443", True),
        (b"api.example.org", True),
        (b"a.b.example.org:8443", True),
        (b"example.org", False),  # a wildcard names subdomains only
        (b"evil.example", False),
        (b"example.com.evil.example", False),
        (b"evilexample.org", False),
        (b"[::1]:4000", True),
        (b"[::2]", False),
        (b"", False),
    ],
)
def test_host_patterns(host: bytes, allowed: bool) -> None:
    hosts = TrustedHosts(["example.com", "*.example.org", "::1"])

    assert hosts.allows_host(host) is allowed
    assert hosts.allows_host(host) is allowed  # the second time from what it remembered


def test_a_request_without_a_host_header_is_not_allowed() -> None:
    assert TrustedHosts(["example.com"]).allows({"type": "http", "headers": []}) is False
    assert TrustedHosts(["*"]).allows({"type": "http", "headers": []}) is True


def test_refused_hosts_are_not_remembered() -> None:
    hosts = TrustedHosts(["example.com"])
    for number in range(1000):
        hosts.allows_host(f"evil{number}.example".encode())

    assert hosts.allows_host(b"example.com") is True
    assert len(hosts._known) == 1


# --- the endpoint ---


@pytest.fixture(scope="module")
def prod_app(settings: Settings) -> Endpoint:
    # As in prod by default: APP_HOST only.
    return create_app(settings.model_copy(update={"trusted_hosts": "example.com"}), start_application=False)


@pytest.fixture
async def http(prod_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(prod_app) as client:
        yield client


@pytest.mark.parametrize("path", ["/health", "/", "/api/users/me", "/static/app.css"])
async def test_another_host_gets_a_json_400(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path, headers={"host": "evil.example", "accept": "text/html"})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == BAD_REQUEST
    assert response.headers["x-request-id"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_the_trusted_host_is_served(http: httpx.AsyncClient) -> None:
    response = await http.get("/health", headers={"host": "example.com"})

    assert response.status_code == 200


async def test_any_host_is_served_by_default_outside_prod(settings: Settings) -> None:
    async with client_for(create_app(settings, start_application=False)) as client:
        response = await client.get("/health", headers={"host": "evil.example"})

    assert response.status_code == 200


# --- sockets: served before the middleware, checked all the same ---


class RecordingSocket:
    """Stands in for the socket endpoint: records the scope it is handed and refuses."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        await receive()
        await send({"type": "websocket.close", "code": 1008})


async def upgrade(app: Endpoint, host: str, *, extensions: dict[str, Any] | None = None) -> list[Message]:
    """Ask `app` for a WebSocket on /test-socket/websocket as uvicorn would; what it sent back."""
    sent: list[Message] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/test-socket/websocket",
        "raw_path": b"/test-socket/websocket",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", host.encode()), (b"x-forwarded-for", b"203.0.113.9")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 4000),
        "scheme": "ws",
        "subprotocols": [],
        "extensions": extensions if extensions is not None else {"websocket.http.response": {}},
    }
    await app(scope, receive, send)
    return sent


def with_socket(app: Endpoint) -> RecordingSocket:
    socket = RecordingSocket()
    app.sockets["/test-socket/websocket"] = cast("Any", socket)
    return socket


async def test_a_socket_upgrade_for_another_host_is_answered_400(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"trusted_hosts": "example.com"}), start_application=False)
    socket = with_socket(app)

    sent = await upgrade(app, "evil.example")

    assert socket.scopes == []
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 400
    assert sent[1] == {"type": "websocket.http.response.body", "body": b'{"errors":{"detail":"Bad Request"}}'}


async def test_a_socket_upgrade_for_another_host_is_closed_where_the_server_cannot_answer_http(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"trusted_hosts": "example.com"}), start_application=False)
    socket = with_socket(app)

    sent = await upgrade(app, "evil.example", extensions={})

    assert socket.scopes == []
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_a_socket_upgrade_for_the_trusted_host_reaches_the_socket(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"trusted_hosts": "example.com"}), start_application=False)
    socket = with_socket(app)

    await upgrade(app, "example.com")

    assert len(socket.scopes) == 1
    assert socket.scopes[0]["client"] == ("127.0.0.1", 50000)  # no trusted proxy: the forwarded address is ignored


async def test_a_socket_behind_a_trusted_proxy_gets_the_forwarded_client(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"trusted_proxies": "127.0.0.0/8"}), start_application=False)
    socket = with_socket(app)

    await upgrade(app, "localhost")

    assert socket.scopes[0]["client"] == ("203.0.113.9", 0)
