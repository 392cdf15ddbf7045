"""Writing to a client (`Connection`): at once to a client that reads, queued behind a slow one, then 1013.

These drive a `Connection` on a fake ASGI `send` (`_SlowClient`) to see what is written, queued
and dropped; the same limits, as a real client sees them, are in test_transport.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from my_app_web.channels import connection
from my_app_web.channels.serializer import Frame, V2Serializer
from my_app_web.channels.socket_handler import SocketHandler

LOBBY = "room:lobby"
WITHIN = 5.0


class _SlowClient:
    """The ASGI `send` of a client that takes nothing until `reading` is set (as uvicorn's waits
    while the transport's buffer is full); records what it was sent."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()
        self.sent: list[Any] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        await self.reading.wait()
        if message["type"] == "websocket.close":
            self.closed = (message["code"], message["reason"])
        else:
            self.sent.append(orjson.loads(message["text"])[4])


def open_connection(monkeypatch: pytest.MonkeyPatch, queue_size: int) -> tuple[connection.Connection, _SlowClient]:
    monkeypatch.setattr(connection, "SEND_QUEUE_SIZE", queue_size)
    client = _SlowClient()

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.disconnect"}

    socket = connection.Connection({"type": "websocket"}, receive, client.send, SocketHandler())  # type: ignore[arg-type]
    socket.serializer = V2Serializer()
    return socket, client


def _frame(n: int) -> Frame:
    return Frame(None, None, LOBBY, "tick", {"n": n})


async def test_frames_are_written_at_once_to_a_client_that_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    socket, client = open_connection(monkeypatch, 3)
    client.reading.set()
    for n in range(10):
        socket.send(_frame(n))
    # Written within the calls: no task, nothing queued.
    assert client.sent == [{"n": n} for n in range(10)]
    assert socket.writer is None
    assert not socket.outbox


async def test_a_full_send_queue_closes_with_1013(monkeypatch: pytest.MonkeyPatch) -> None:
    socket, client = open_connection(monkeypatch, 3)
    socket.send(_frame(0))  # the client does not read: this write waits
    for n in range(1, 4):
        socket.send(_frame(n))  # queued behind it
    assert socket.closing is None
    socket.send(_frame(4))  # one too many
    assert socket.closing == (1013, "the client is not reading fast enough")
    socket.send(_frame(5))  # dropped: the socket is closing
    client.reading.set()
    assert socket.writer is not None
    await asyncio.wait_for(socket.writer, WITHIN)
    # The write under way finishes; what waited behind it is dropped for the close.
    assert client.sent == [{"n": 0}]
    assert client.closed == (1013, "the client is not reading fast enough")


async def test_a_close_goes_out_after_what_was_queued_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    socket, client = open_connection(monkeypatch, 3)
    socket.send(_frame(1))
    socket.send(_frame(2))
    socket.close(1001, "going away")
    for _ in range(3):  # the writer gets its chances to run: it must still wait for the client
        await asyncio.sleep(0)
    assert client.closed is None
    client.reading.set()
    assert socket.writer is not None
    await asyncio.wait_for(socket.writer, WITHIN)
    assert client.sent == [{"n": 1}, {"n": 2}]
    assert client.closed == (1001, "going away")
