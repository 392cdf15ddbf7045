"""ChannelCase: a real server on a loopback port, in the test's event loop, and a Phoenix-protocol client.

The server runs the app in the same process and loop as the test, so it shares the test's
sandboxed transaction (users made by fixtures are visible to the socket) and its PubSub.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from my_app.config import Settings
from my_app_web.channels import socket_token
from tests.support.pubsub import eventually

RECEIVE_TIMEOUT = 5.0


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """`ws://127.0.0.1:<port>` for `app`, served by uvicorn in this loop until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None, ws_max_size=1 << 20)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), "the test server to start", within=5)
    assert server.started, f"the test server did not start: {task}"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)


@pytest.fixture
async def live_url(web_app: FastAPI, db: AsyncConnection) -> AsyncIterator[str]:
    """`ws://127.0.0.1:<port>`: uvicorn serving the app on a free port for this test."""
    async with serving(web_app) as url:
        yield url


async def token_for(settings: Settings, user: accounts.User, api_token: str | None = None) -> str:
    """A socket token for `user`, minted as `GET /api/socket-token` mints it: bound to an API token
    (`api_token`, or a new one), which connect checks is still there."""
    credential = await accounts.get_credential(api_token or await accounts.create_api_token(user), "api")
    assert credential is not None, "not a live API token of the user"
    return socket_token.sign(settings, user.id, credential.id)


class PhoenixClient:
    """Just enough of the JS client: numbered refs, pushes, replies, and everything else in a queue."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection
        self.refs = itertools.count(1)
        self.join_refs: dict[str, str] = {}

    async def send(self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> None:
        await self.connection.send(orjson.dumps([join_ref, ref, topic, event, payload]).decode())

    async def push(self, topic: str, event: str, payload: dict[str, Any] | None = None) -> str:
        ref = str(next(self.refs))
        await self.send(self.join_refs.get(topic), ref, topic, event, payload or {})
        return ref

    async def join(self, topic: str, payload: dict[str, Any] | None = None) -> list[Any]:
        ref = str(next(self.refs))
        self.join_refs[topic] = ref
        await self.send(ref, ref, topic, "phx_join", payload or {})
        return await self.reply(ref)

    async def receive(self, within: float = RECEIVE_TIMEOUT) -> list[Any]:
        message = await asyncio.wait_for(self.connection.recv(), within)
        decoded: list[Any] = orjson.loads(message)
        return decoded

    async def reply(self, ref: str, within: float = RECEIVE_TIMEOUT) -> list[Any]:
        """The phx_reply to `ref` (other messages before it are skipped)."""
        return await self.next_where(lambda m: m[3] == "phx_reply" and m[1] == ref, within)

    async def next_event(self, event: str, topic: str | None = None, within: float = RECEIVE_TIMEOUT) -> list[Any]:
        return await self.next_where(lambda m: m[3] == event and (topic is None or m[2] == topic), within)

    async def next_where(self, match: Any, within: float = RECEIVE_TIMEOUT) -> list[Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("no matching message")
            message = await self.receive(remaining)
            if match(message):
                return message


@contextlib.asynccontextmanager
async def connect(url: str, token: str | None = None, **kwargs: Any) -> AsyncIterator[PhoenixClient]:
    query = f"?vsn=2.0.0&token={token}" if token else "?vsn=2.0.0"
    async with websockets.connect(f"{url}/socket/websocket{query}", **kwargs) as connection:
        yield PhoenixClient(connection)


SEE_WITHIN = 15.0  # seconds for a join or a message to reach another socket, possibly on another node


class Member:
    """A client in one topic, with the Presence state it was sent (as the JS client's syncState/syncDiff)."""

    def __init__(self, client: PhoenixClient, topic: str) -> None:
        self.client = client
        self.topic = topic
        self.state: dict[str, dict[str, dict[str, Any]]] = {}  # key -> phx_ref -> meta
        self.synced = False  # no diff applies before the presence_state (the JS client buffers them)
        self.pending_diffs: list[dict[str, Any]] = []
        self.others: list[list[Any]] = []  # messages that are not about presence, for `expect`

    def users(self) -> set[str]:
        return {key for key, metas in self.state.items() if metas}

    async def until(self, condition: Callable[[list[Any] | None], bool], *, within: float, what: str) -> float:
        """Read messages until `condition(message)` holds; the seconds it took."""
        started = time.monotonic()
        deadline = started + within
        if condition(None):
            return 0.0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {within}s waiting for {what}; presence {self.state}, other messages {self.others}"
                )
            try:
                message = await self.client.receive(remaining)
            except TimeoutError:
                continue
            self._apply(message)
            if condition(message):
                return time.monotonic() - started

    async def expect(self, event: str, *, within: float = SEE_WITHIN) -> list[Any]:
        """The next `event` on the topic (messages already read first)."""
        for message in self.others:
            if message[3] == event:
                self.others.remove(message)
                return message

        def arrived(message: list[Any] | None) -> bool:
            return message is not None and message[2] == self.topic and message[3] == event

        await self.until(arrived, within=within, what=event)
        message = next(m for m in self.others if m[3] == event)
        self.others.remove(message)
        return message

    def _apply(self, message: list[Any]) -> None:
        _join_ref, _ref, topic, event, payload = message
        if topic != self.topic or event not in ("presence_state", "presence_diff"):
            self.others.append(message)
        elif event == "presence_state":
            self.state = {key: {m["phx_ref"]: m for m in entry["metas"]} for key, entry in payload.items()}
            self.synced = True
            for diff in self.pending_diffs:
                self._diff(diff)
            self.pending_diffs = []
        elif self.synced:
            self._diff(payload)
        else:
            self.pending_diffs.append(payload)

    def _diff(self, diff: dict[str, Any]) -> None:
        for key, entry in diff["joins"].items():
            self.state.setdefault(key, {}).update({m["phx_ref"]: m for m in entry["metas"]})
        for key, entry in diff["leaves"].items():
            for meta in entry["metas"]:
                self.state.get(key, {}).pop(meta["phx_ref"], None)
            if not self.state.get(key):
                self.state.pop(key, None)
