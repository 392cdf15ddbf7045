"""PubSub test helpers: nodes in this process, each adapter's network, a node in a child process, bounded waits.

A test module imports the fixtures it uses (`from tests.support.pubsub import start_node_fixture`)
and asks for them by name (`start_node`, `adapters`). Every wait here is bounded: a message that
never comes fails the test with what did come instead.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import redis.asyncio as aioredis

from my_app import database
from my_app.config import Settings
from my_app.pubsub import Adapter, Gap, Message, PostgresAdapter, PubSub, Subscription
from my_app.pubsub.redis import RedisAdapter
from tests.support.processes import child_env
from tests.support.services import REDIS_URL, needs_redis

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WITHIN = 15.0  # seconds any one expected message (or reconnection) may take

StartNode = Callable[[Adapter], Awaitable[PubSub]]


async def eventually(condition: Callable[[], bool], what: str, *, within: float = WITHIN) -> None:
    """Wait until `condition()` holds; fail with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


def unique_topic(prefix: str = "test") -> str:
    return f"{prefix}:{uuid.uuid4().hex[:12]}"


@pytest.fixture(name="start_node")
async def start_node_fixture() -> AsyncIterator[StartNode]:
    """`await start_node(adapter)`: a started node, listening; every one is stopped after the test."""
    nodes: list[PubSub] = []

    async def start(adapter: Adapter) -> PubSub:
        node = PubSub()
        nodes.append(node)
        await node.start(adapter)
        await node.wait_connected(WITHIN)
        return node

    try:
        yield start
    finally:
        for node in reversed(nodes):
            await node.stop()


# --- Each adapter's network: the cross-node tests run once per adapter ---


class Network(ABC):
    """Where nodes of one adapter meet: `new()` is an adapter for one more node on it."""

    @abstractmethod
    def new(self) -> Adapter: ...

    @abstractmethod
    async def kill_listener(self, node: PubSub) -> None:
        """Cut `node`'s listening connection from the server's side, as a network fault or an admin would."""


@dataclass
class PostgresNetwork(Network):
    """LISTEN/NOTIFY on this pytest worker's database."""

    url: str

    def new(self) -> PostgresAdapter:
        return PostgresAdapter(self.url)

    async def kill_listener(self, node: PubSub) -> None:
        adapter = node.adapter
        assert isinstance(adapter, PostgresAdapter), adapter
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as connection:
            cursor = await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                (adapter.application_name,),
            )
            terminated = await cursor.fetchall()
        assert terminated == [(True,)], f"expected one listener named {adapter.application_name!r}: {terminated}"


@dataclass
class RedisNetwork(Network):
    """Redis pub/sub on a channel of the test's own, so parallel runs sharing one Redis never hear each other."""

    url: str
    channel: str = field(default_factory=lambda: f"my_app_pubsub_test:{uuid.uuid4().hex[:12]}")

    def new(self) -> RedisAdapter:
        return RedisAdapter(self.url, channel=self.channel, connect_timeout=2)

    async def kill_listener(self, node: PubSub) -> None:
        adapter = node.adapter
        assert isinstance(adapter, RedisAdapter), adapter
        # CLIENT KILL TYPE pubsub, narrowed to this node's listener: other runs on this Redis carry on.
        async with aioredis.Redis.from_url(self.url) as admin:
            clients = await admin.client_list(_type="pubsub")
            ids = [client["id"] for client in clients if client.get("name") == adapter.client_name]
            assert len(ids) == 1, f"expected one listener named {adapter.client_name!r}: {clients}"
            killed = await admin.client_kill_filter(_id=ids[0], _type="pubsub")
        assert killed == 1, f"CLIENT KILL ID {ids[0]} TYPE pubsub killed {killed} clients"


@pytest.fixture(
    name="adapters",
    params=[pytest.param("postgres"), pytest.param("redis", marks=needs_redis())],
)
def adapters_fixture(request: pytest.FixtureRequest, settings: Settings) -> Network:
    """The test runs once per adapter: `await start_node(adapters.new())`, `await adapters.kill_listener(node)`."""
    if request.param == "postgres":
        return PostgresNetwork(database.resolve(settings).url)
    return RedisNetwork(REDIS_URL)


async def next_item(subscription: Subscription, *, within: float = WITHIN) -> Message | Gap:
    try:
        return await subscription.get(timeout=within)
    except TimeoutError:
        raise AssertionError(f"nothing arrived on {subscription!r} within {within}s") from None


async def next_message(subscription: Subscription, *, within: float = WITHIN) -> Message:
    item = await next_item(subscription, within=within)
    assert isinstance(item, Message), f"expected a message on {subscription.topic!r}, got {item!r}"
    return item


async def messages_until(subscription: Subscription, event: str, *, within: float = WITHIN) -> list[Message | Gap]:
    """Every item up to and including the first message with `event` (a marker sent last)."""
    items: list[Message | Gap] = []
    while True:
        item = await next_item(subscription, within=within)
        items.append(item)
        if isinstance(item, Message) and item.event == event:
            return items


async def broadcasts(subscription: Subscription, *, quiet_for: float = 0.2) -> list[tuple[str, dict[str, Any]]]:
    """What `subscription` heard, as (event, payload) pairs, once nothing more comes for `quiet_for` seconds."""
    heard: list[tuple[str, dict[str, Any]]] = []
    while True:
        try:
            item = await subscription.get(timeout=quiet_for)
        except TimeoutError:
            return heard
        assert isinstance(item, Message), item
        heard.append((item.event, dict(item.payload)))


async def broadcast_ids(subscription: Subscription) -> list[tuple[str, str]]:
    """What `subscription` heard, as (event, id) pairs: a context's `{"id": ...}` announcements."""
    return [(event, payload["id"]) for event, payload in await broadcasts(subscription)]


def events(items: list[Message | Gap]) -> list[str]:
    return [item.event if isinstance(item, Message) else f"gap: {item.reason}" for item in items]


# --- A node in a child process (tests/support/pubsub_node.py) ---


@dataclass
class NodeProcess:
    process: asyncio.subprocess.Process
    output: list[str] = field(default_factory=list)

    async def line(self, *, within: float = 30) -> dict[str, Any]:
        """The child's next JSON line (its log lines are kept for the failure message)."""
        assert self.process.stdout is not None
        while True:
            try:
                raw = await asyncio.wait_for(self.process.stdout.readline(), within)
            except TimeoutError:
                raise AssertionError(f"the node process said nothing for {within}s:\n{self.text()}") from None
            if not raw:
                await self.process.wait()
                raise AssertionError(f"the node process exited ({self.process.returncode}):\n{self.text()}")
            text = raw.decode(errors="replace").rstrip("\n")
            self.output.append(text)
            if text.startswith("{"):
                line: dict[str, Any] = orjson.loads(text)
                return line

    async def ready(self) -> str:
        """Wait until the child listens; its node id."""
        line = await self.line()
        assert "ready" in line, f"expected ready, got {line}:\n{self.text()}"
        return str(line["ready"])

    async def exit_code(self, *, within: float = 30) -> int:
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise AssertionError(f"the node process did not exit within {within}s:\n{self.text()}") from None

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def text(self) -> str:
        return "\n".join(self.output)


async def start_node_process(topic: str, *, env: Mapping[str, str | None]) -> NodeProcess:
    """`python -m tests.support.pubsub_node TOPIC` on this pytest worker's database.

    The child inherits MYAPP_TEST_PARTITION and the embedded server's URL, so it uses the same
    database as the test; `env` adds variables (None removes one, e.g. REDIS_URL).
    """
    python_path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    environment = child_env({"MYAPP_ENV": "test", "PYTHONPATH": python_path, **env})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.pubsub_node",
        topic,
        cwd=PROJECT_ROOT,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    return NodeProcess(process)


async def assert_broadcasts_reach_a_node_process(here: PubSub, *, env: Mapping[str, str | None]) -> None:
    """A node in a child process (started with `env`) hears `here`'s broadcasts once each, in order:
    a small one, a 20 KB one through `broadcast_from` (its sender kept), and the one that stops it."""
    topic = unique_topic()
    acks = here.subscribe(f"{topic}:ack")
    child = await start_node_process(topic, env=env)
    try:
        child_id = await child.ready()
        big = {"blob": "y" * 20_000}

        await here.broadcast(topic, "hello", {"n": 1})
        await here.broadcast_from("socket-9", topic, "big", big)
        await here.broadcast(topic, "stop", {})

        received = [(await next_message(acks)).payload for _ in range(3)]
        assert received == [
            {"event": "hello", "payload": {"n": 1}, "sender": None, "node": child_id},
            {"event": "big", "payload": big, "sender": "socket-9", "node": child_id},
            {"event": "stop", "payload": {}, "sender": None, "node": child_id},
        ], received
        assert await child.exit_code() == 0
        assert child_id != here.node_id, "the child is a node of its own"
    finally:
        await child.stop()
