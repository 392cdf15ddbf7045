"""PubSub's metrics: messages sent and delivered on this node, and the messages someone never got (by reason)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import orjson
import psycopg
import pytest

from my_app import database, metrics, pubsub
from my_app.config import Settings
from my_app.pubsub import Message, PostgresAdapter, PubSub
from my_app.pubsub.adapter import CHANNEL
from tests.support.pubsub import (
    WITHIN,
    StartNode,
    eventually,
    messages_until,
    start_node_fixture,  # noqa: F401 - fixture
    unique_topic,
)


def sample(name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def sent() -> float:
    return sample("pubsub_messages_total", direction="sent")


def delivered() -> float:
    return sample("pubsub_messages_total", direction="delivered")


def dropped(reason: str) -> float:
    return sample("pubsub_dropped_messages_total", reason=reason)


class LoopbackAdapter(pubsub.Adapter):
    """No network: publishing succeeds at once (or raises `publish_error`), and nothing comes back."""

    name = "loopback pubsub"

    def __init__(self) -> None:
        super().__init__()
        self.publish_error: Exception | None = None

    async def _publish(self, topic: str, envelope: bytes) -> None:
        if self.publish_error is not None:
            raise self.publish_error

    async def _close(self) -> None:
        pass

    async def _listen(self) -> None:
        self._listening_now()
        await asyncio.Event().wait()


@pytest.fixture
async def node() -> AsyncIterator[PubSub]:
    started = PubSub()
    adapter = LoopbackAdapter()
    adapter.reconnect_base = 60  # a publish pause no test waits out
    await started.start(adapter)
    await started.wait_connected(WITHIN)
    yield started
    await started.stop()


@pytest.fixture(scope="module")
def database_url(settings: Settings) -> str:
    return database.resolve(settings).url


async def test_a_broadcast_counts_once_sent_and_once_per_subscriber_delivered(node: PubSub) -> None:
    topic = unique_topic()
    heard: list[pubsub.Message | pubsub.Gap] = []
    queued = node.subscribe(topic, owner="socket-1")
    node.subscribe(topic, owner="socket-2", on_message=heard.append)
    node.subscribe(unique_topic())  # another topic: not delivered to
    sent_before, delivered_before = sent(), delivered()

    await node.broadcast(topic, "new_msg", {"body": "hi"})
    assert (sent() - sent_before, delivered() - delivered_before) == (1, 2)

    await node.broadcast_from("socket-1", topic, "new_msg", {"body": "not to socket-1"})
    assert (sent() - sent_before, delivered() - delivered_before) == (2, 3)

    node.local_broadcast(topic, "marker", {})
    assert (sent() - sent_before, delivered() - delivered_before) == (3, 5)

    assert [item.event for item in heard if isinstance(item, Message)] == ["new_msg", "new_msg", "marker"]
    assert len(await messages_until(queued, "marker")) == 2


async def test_a_broadcast_nobody_subscribes_to_is_sent_but_not_delivered(node: PubSub) -> None:
    sent_before, delivered_before = sent(), delivered()

    await node.broadcast(unique_topic(), "nobody", {})

    assert (sent() - sent_before, delivered() - delivered_before) == (1, 0)


async def test_a_message_a_full_queue_cannot_take_is_counted_dropped(node: PubSub) -> None:
    topic = unique_topic()
    slow = node.subscribe(topic, maxsize=2)
    delivered_before, dropped_before = delivered(), dropped("overflow")

    for n in range(3):
        await node.broadcast(topic, "n", n)
    await node.broadcast(topic, "after", {})  # the closed subscription is gone: nothing more to drop

    assert slow.close_reason == "overflow"
    assert dropped("overflow") - dropped_before == 1
    assert delivered() - delivered_before == 2


async def test_a_broadcast_the_other_nodes_never_get_is_counted_dropped(node: PubSub) -> None:
    adapter = node.adapter
    assert isinstance(adapter, LoopbackAdapter)
    adapter.publish_error = OSError("connection refused")
    before = dropped("unpublished")

    await node.broadcast(unique_topic(), "first", {})  # fails, and pauses publishing
    adapter.publish_error = None
    await node.broadcast(unique_topic(), "during the pause", {})

    assert dropped("unpublished") - before == 2


async def notify(url: str, channel: str, payload: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await connection.execute("SELECT pg_notify(%s, %s)", (channel, payload))


async def test_unreadable_and_lost_messages_from_other_nodes_are_counted_dropped(
    start_node: StartNode, database_url: str
) -> None:
    # A channel of its own: another node of this process (the app's) must not count these too.
    channel = f"{CHANNEL}_{uuid.uuid4().hex[:8]}"
    node = await start_node(PostgresAdapter(database_url, channel=channel))
    topic = unique_topic()
    subscription = node.subscribe(topic)
    malformed, lost = dropped("malformed"), dropped("payload_lost")

    for junk in ["not json", "[1, 2]", orjson.dumps({"node": "elsewhere", "topic": topic, "event": 5}).decode()]:
        await notify(database_url, channel, junk)
    await notify(database_url, channel, orjson.dumps({"ref": -1, "node": "elsewhere", "topic": topic}).decode())
    await notify(database_url, channel, orjson.dumps({"node": "elsewhere", "topic": topic, "event": "fine"}).decode())

    await messages_until(subscription, "fine")
    await eventually(lambda: dropped("malformed") - malformed >= 3, "three malformed envelopes counted")
    assert dropped("malformed") - malformed == 3
    assert dropped("payload_lost") - lost == 1
