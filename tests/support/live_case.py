"""LiveCase: open a live page's SSE stream in-process and read its events (Phoenix's `live(conn, path)`).

httpx's ASGI transport buffers a whole response, and a live stream never ends, so this drives the
ASGI app directly: the request carries the client's cookies (its session), events are parsed as
they are sent, and leaving the block disconnects the client.

    async with live_stream(web_app, client, "/users") as stream:
        first = await stream.next_event()            # the region, rendered on connect
        await accounts.create_user(...)
        event = await stream.next_event()            # LiveEvent(event="live", data='<hx-partial ...')
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from starlette.types import ASGIApp, Message

EVENT_TIMEOUT = 5.0


@dataclass(frozen=True)
class LiveEvent:
    id: str | None
    event: str
    data: str


class LiveStreamReader:
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._buffer = ""
        self.ended = False

    async def next_event(self, timeout: float = EVENT_TIMEOUT) -> LiveEvent:  # noqa: ASYNC109 - a test helper's bound
        """The next event (comments and the `retry:` line skipped); TimeoutError if none comes."""
        async with asyncio.timeout(timeout):
            while True:
                if "\n\n" in self._buffer:
                    block, self._buffer = self._buffer.split("\n\n", 1)
                    event = _parse(block)
                    if event is not None:
                        return event
                    continue
                chunk = await self._chunks.get()
                if chunk is None:
                    self.ended = True
                    raise EOFError("the stream ended")
                self._buffer += chunk.decode()

    async def no_event(self, within: float = 0.3) -> None:
        """Assert that nothing is pushed for `within` seconds."""
        try:
            event = await self.next_event(timeout=within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event: {event}")


def _parse(block: str) -> LiveEvent | None:
    event_id, name, data = None, "message", []
    for line in block.split("\n"):
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
    if not data and name == "message":
        return None  # a comment (heartbeat) or the retry line
    return LiveEvent(event_id, name, "\n".join(data))


@asynccontextmanager
async def live_stream(
    app: ASGIApp, client: httpx.AsyncClient, path: str, *, last_event_id: str | None = None
) -> AsyncIterator[LiveStreamReader]:
    """Connect to `path`'s live stream with `client`'s cookies; disconnect when the block ends."""
    reader = LiveStreamReader()
    disconnected = asyncio.Event()
    request_sent = False
    url = httpx.URL(path)
    headers = [
        (b"host", b"localhost:4000"),
        (b"accept", b"text/event-stream"),
        (b"cookie", "; ".join(f"{name}={value}" for name, value in client.cookies.items()).encode()),
    ]
    if last_event_id is not None:
        headers.append((b"last-event-id", last_event_id.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 4000),
        "state": {},
    }

    async def receive() -> Message:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if disconnected.is_set():
            raise OSError("client disconnected")
        if message["type"] == "http.response.start":
            reader.status = message["status"]
            reader.headers = {key.decode(): value.decode() for key, value in message["headers"]}
        elif message["type"] == "http.response.body":
            await reader._chunks.put(message.get("body", b""))
            if not message.get("more_body", False):
                await reader._chunks.put(None)
                disconnected.set()

    task = asyncio.create_task(app(scope, receive, send))
    try:
        yield reader
    finally:
        disconnected.set()
        await asyncio.wait_for(task, EVENT_TIMEOUT)
