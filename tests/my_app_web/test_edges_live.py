"""The request edges through a real `myapp server` (uvicorn): forwarded headers, body limit, host check.

uvicorn itself trusts no forwarded header (`proxy_headers=False`); the app believes them from
TRUSTED_PROXIES only. Each server here runs with a small log-in limit (3 failures per IP address
and per email): a client that forges `X-Forwarded-For` without a trusted proxy in front is still
counted by its real address, and gets 429.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.live_server import ServerProcess
from tests.support.processes import free_port, wait_until

pytestmark = pytest.mark.integration

LIMIT = 3
LOG_WITHIN = 10.0


def start(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Iterator[ServerProcess]:
    server = ServerProcess(
        port=free_port(),
        log=tmp_path_factory.mktemp(name) / "server.log",
        env={"RATE_LIMIT_LOGIN": f"{LIMIT}/hour", **env},
    )
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Clients connect straight to it (no proxy trusted), and only its own host names are answered."""
    yield from start(tmp_path_factory, "direct", {"TRUSTED_HOSTS": "127.0.0.1,localhost"})


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Behind a proxy on 127.0.0.1 (TRUSTED_PROXIES=127.0.0.1)."""
    yield from start(tmp_path_factory, "proxied", {"TRUSTED_PROXIES": "127.0.0.1"})


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def failed_log_in(http: httpx.AsyncClient, server: ServerProcess, forwarded_for: str) -> int:
    """A wrong password for a new email each time (only the IP address is counted twice)."""
    response = await http.post(
        f"{server.base_url}/api/sessions",
        json={"email": f"{uuid.uuid4().hex}@example.com", "password": "wrong password"},
        headers={"x-forwarded-for": forwarded_for},
    )
    return response.status_code


def wait_for_log(server: ServerProcess, text: str) -> None:
    wait_until(lambda: text in server.output(), timeout=LOG_WITHIN, message=f"{text!r} in the server's log")


# --- client IP: TRUSTED_PROXIES ---


async def test_a_forged_forwarded_for_does_not_dodge_the_ip_limit(
    direct: ServerProcess, http: httpx.AsyncClient
) -> None:
    statuses = [await failed_log_in(http, direct, f"198.51.100.{n}") for n in range(1, LIMIT + 2)]

    assert statuses == [401] * LIMIT + [429]
    wait_for_log(direct, "client=127.0.0.1")
    assert "198.51.100." not in direct.output()  # the forged addresses are not logged as the client's


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(
    proxied: ServerProcess, http: httpx.AsyncClient
) -> None:
    # Each forwarded address is a client of its own: rotating them avoids the per-IP limit...
    rotating = [await failed_log_in(http, proxied, f"198.51.100.{n}") for n in range(1, 2 * LIMIT + 2)]
    # ...while one forwarded address is limited like any client.
    one_client = [await failed_log_in(http, proxied, "203.0.113.50") for _ in range(LIMIT + 1)]

    assert rotating == [401] * (2 * LIMIT + 1)
    assert one_client == [401] * LIMIT + [429]
    wait_for_log(proxied, "client=203.0.113.50")  # the access log names the client


# --- MAX_BODY_BYTES ---


async def test_a_30_mb_json_body_is_refused_with_413(direct: ServerProcess, http: httpx.AsyncClient) -> None:
    body = b'{"email": "ada@example.com", "password": "' + b"x" * (30 * 1024 * 1024) + b'"}'

    response = await http.post(
        f"{direct.base_url}/api/sessions", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json() == {"errors": {"detail": "Request Entity Too Large"}}


async def test_a_chunked_body_over_the_limit_is_refused_with_413(
    direct: ServerProcess, http: httpx.AsyncClient
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "ada@example.com", "password": "'
        for _ in range(2 * 1024):  # 2 MiB in 1 KiB chunks, no Content-Length
            yield b"x" * 1024
        yield b'"}'

    response = await http.post(
        f"{direct.base_url}/api/sessions", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json() == {"errors": {"detail": "Request Entity Too Large"}}


# --- TRUSTED_HOSTS ---


async def test_another_host_is_answered_400(direct: ServerProcess, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{direct.base_url}/health", headers={"host": "evil.example"})

    assert response.status_code == 400
    assert response.json() == {"errors": {"detail": "Bad Request"}}


async def test_a_socket_upgrade_for_another_host_is_answered_400(direct: ServerProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", direct.port)
    try:
        writer.write(
            b"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\n"
            b"Host: evil.example\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    finally:
        writer.close()

    assert status_line.startswith(b"HTTP/1.1 400 ")
