"""PubSub's Redis adapter (REDIS_URL): the cross-node guarantees of test_pubsub.py, through Redis.

Needs Redis on REDIS_URL (default 127.0.0.1:6379, which CI starts); skipped if nothing answers
there. Nodes in this process use a channel of their own, so parallel runs sharing one Redis never
hear each other.
"""

from __future__ import annotations

import logging
import os
import time
import uuid

import pytest
import redis
import redis.asyncio as aioredis

from my_app import database, pubsub
from my_app.config import Settings
from my_app.pubsub import Gap, Message, PubSub, RedisAdapter
from tests.support.pubsub import (
    StartNode,
    events,
    messages_until,
    next_item,
    next_message,
    start_node_fixture,  # noqa: F401 - fixture
    start_node_process,
    unique_topic,
)

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not redis_answers(REDIS_URL), reason=f"Redis does not answer at {REDIS_URL}")


@pytest.fixture(name="channel", scope="module")
def channel_fixture() -> str:
    return f"my_app_pubsub_test:{uuid.uuid4().hex[:12]}"


def adapter(channel: str) -> RedisAdapter:
    return RedisAdapter(REDIS_URL, channel=channel, connect_timeout=2)


async def test_a_broadcast_reaches_the_other_node_and_each_subscriber_once(start_node: StartNode, channel: str) -> None:
    here, there = await start_node(adapter(channel)), await start_node(adapter(channel))
    topic = unique_topic()
    mine, theirs = here.subscribe(topic), there.subscribe(topic)

    await here.broadcast(topic, "new_msg", {"body": "hi"})
    assert await next_message(theirs) == Message(topic, "new_msg", {"body": "hi"})
    # Sent after `there` got the first message, so `here` hears its own echo of it before this one.
    await there.broadcast(topic, "marker", {})

    assert events(await messages_until(mine, "marker")) == ["new_msg", "marker"]
    assert events(await messages_until(theirs, "marker")) == ["marker"]


async def test_broadcast_from_skips_the_sender_on_other_nodes_too(start_node: StartNode, channel: str) -> None:
    here, there = await start_node(adapter(channel)), await start_node(adapter(channel))
    topic = unique_topic()
    sender_elsewhere = there.subscribe(topic, owner="socket-1")
    others = there.subscribe(topic, owner="socket-2")

    await here.broadcast_from("socket-1", topic, "new_msg", {"body": "hi"})
    await here.broadcast(topic, "marker", {})

    assert events(await messages_until(sender_elsewhere, "marker")) == ["marker"]
    assert (await messages_until(others, "marker"))[0] == Message(topic, "new_msg", {"body": "hi"}, sender="socket-1")


async def test_local_broadcast_stays_on_its_node(start_node: StartNode, channel: str) -> None:
    here, there = await start_node(adapter(channel)), await start_node(adapter(channel))
    topic = unique_topic()
    theirs = there.subscribe(topic)

    here.local_broadcast(topic, "local", {})
    await here.broadcast(topic, "marker", {})

    assert events(await messages_until(theirs, "marker")) == ["marker"]


async def test_a_large_payload_crosses_as_it_is(start_node: StartNode, channel: str) -> None:
    here, there = await start_node(adapter(channel)), await start_node(adapter(channel))
    topic = unique_topic()
    theirs = there.subscribe(topic)
    payload = {"blob": "z" * 20_000, "accents": "é" * 4_000}

    await here.broadcast(topic, "big", payload)

    assert await next_message(theirs) == Message(topic, "big", payload)


async def test_a_slow_subscriber_never_holds_up_the_listener(start_node: StartNode, channel: str) -> None:
    here, there = await start_node(adapter(channel)), await start_node(adapter(channel))
    topic = unique_topic()
    slow = there.subscribe(topic, maxsize=1)
    fast = there.subscribe(topic)

    for n in range(20):
        await here.broadcast(topic, "n", n)

    assert [(await next_message(fast)).payload for _ in range(20)] == list(range(20))
    assert slow.close_reason == "overflow"


async def test_a_killed_listener_reconnects_reports_a_gap_and_hears_again(start_node: StartNode, channel: str) -> None:
    here = await start_node(adapter(channel))
    listener = adapter(channel)
    there = await start_node(listener)
    topic = unique_topic()
    subscription = there.subscribe(topic)

    # CLIENT KILL TYPE pubsub, narrowed to this node's listener: other runs on this Redis carry on.
    async with aioredis.Redis.from_url(REDIS_URL) as admin:
        clients = await admin.client_list(_type="pubsub")
        ids = [client["id"] for client in clients if client.get("name") == listener.client_name]
        assert len(ids) == 1, clients
        assert await admin.client_kill_filter(_id=ids[0], _type="pubsub") == 1

    assert await next_item(subscription) == Gap("reconnected")
    assert there.connected
    await here.broadcast(topic, "after", {"n": 1})
    assert await next_message(subscription) == Message(topic, "after", {"n": 1})
    assert subscription.qsize() == 0


async def test_the_app_node_uses_redis_when_redis_url_is_set(settings: Settings) -> None:
    await pubsub.start(settings.model_copy(update={"redis_url": REDIS_URL}), database.resolve(settings).url)
    try:
        assert isinstance(pubsub.current().adapter, RedisAdapter)
        await pubsub.current().wait_connected(15)
        topic = unique_topic()
        subscription = pubsub.subscribe(topic)

        await pubsub.broadcast(topic, "hello", {})

        assert await next_message(subscription) == Message(topic, "hello", {})
    finally:
        await pubsub.stop()


@pytest.mark.integration
async def test_messages_cross_processes_through_redis(start_node: StartNode, settings: Settings) -> None:
    # The channel the child picks for itself: named after the (shared) test database.
    redis_settings = settings.model_copy(update={"redis_url": REDIS_URL})
    here = await start_node(pubsub.adapter_for(redis_settings, database.resolve(settings).url))
    topic = unique_topic()
    acks = here.subscribe(f"{topic}:ack")
    child = await start_node_process(topic, env={"REDIS_URL": REDIS_URL})
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
        ]
        assert await child.exit_code() == 0
    finally:
        await child.stop()


async def test_a_node_starts_while_redis_is_down_and_broadcasts_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = PubSub()
    topic = unique_topic()
    subscription = node.subscribe(topic)
    # Port 1 on loopback: nothing listens there, so every connection is refused at once.
    started = time.monotonic()
    await node.start(RedisAdapter("redis://127.0.0.1:1/0", connect_timeout=1))
    try:
        assert not node.connected
        with caplog.at_level(logging.WARNING, logger="my_app.pubsub"):
            await node.broadcast(topic, "hello", {})

        assert await next_message(subscription) == Message(topic, "hello", {})
        assert "could not publish on Redis" in caplog.text
        assert time.monotonic() - started < 5
    finally:
        await node.stop()
